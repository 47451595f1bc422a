//! Adaptive concurrency (AIMD) for the requests of one lane (an endpoint
//! and a bucket, [`super::lanes`]): when the store answers 503 (SlowDown)
//! or 429, the requests allowed in flight to it are halved, and every
//! answer that is not throttled, while the lane is busy, lets one more in,
//! until the limit is wider than the lane was ever used: unlimited again.
//!
//! One cut per round: the answers to requests sent before the last cut say
//! nothing about the new limit, so they do not cut again (a burst of 503s
//! to 64 requests in flight halves the limit once, not 64 times).
//! object_store's retries pass through the limiter as any request does
//! (every attempt calls the connector), so a retry waits for a place in
//! the smaller window instead of hitting the store again at full width.
//!
//! When the window is down to one request and the store still throttles,
//! the store is limiting the request *rate*, which a window cannot bring
//! under it once one request takes less than the store's interval (a
//! front end on the same network answers a 256 KiB GET in a millisecond;
//! a store throttling at 200 requests/s wants five). Then the lane paces
//! its requests instead: starts at least `spacing` apart, 1 ms at first,
//! 15% wider at each throttle (one per round, as above) and 0.5% narrower
//! at each answer that is not, until it is under 50 us: off again, and the
//! window grows back. 15% up and 0.5% down settle with about one throttle
//! in 28 answers and the rate within 15% below the store's: a job at a
//! throttled rate takes about 1.1x the time the rate allows.
//!
//! An unthrottled lane costs a lock and an add per request.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Requests a throttled lane always allows in flight.
const MIN_LIMIT: f64 = 1.0;
/// The first spacing of a lane that paces its starts.
const FIRST_SPACING: Duration = Duration::from_millis(1);
/// Spacing under which pacing stops.
const MIN_SPACING: Duration = Duration::from_micros(50);
/// Widening of the spacing at a throttle, and narrowing at an answer.
const WIDEN: f64 = 1.15;
const NARROW: f64 = 0.995;

/// The limiter of one lane.
#[derive(Debug, Default)]
pub struct Limiter {
    state: Mutex<State>,
    freed: Notify,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    /// Requests allowed in flight; `None`: unlimited.
    limit: Option<f64>,
    in_flight: usize,
    /// The most requests ever in flight at once.
    peak: usize,
    /// Rounds begin at each cut.
    round: u64,
    /// Times the limit was cut.
    cuts: u64,
    /// The smallest limit it was cut to.
    lowest: Option<usize>,
    /// Starts at least this far apart; zero: not paced.
    spacing: Duration,
    /// The earliest start of the next request while paced.
    next_start: Option<Instant>,
}

/// What a limiter's state was at one moment (for the metrics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterState {
    /// Requests allowed in flight now; `None`: unlimited.
    pub limit: Option<usize>,
    /// Requests in flight now.
    pub in_flight: usize,
    /// The most requests in flight at once.
    pub in_flight_peak: usize,
    /// Times the limit was cut.
    pub cuts: u64,
    /// The smallest limit since the lane began; `None`: never cut.
    pub lowest_limit: Option<usize>,
    /// Seconds between the starts of its requests while paced; `None`: not paced.
    pub spacing_s: Option<f64>,
}

/// A place in flight, given back when dropped.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<Limiter>,
    /// The round it was taken in.
    round: u64,
}

impl Limiter {
    /// Wait for a place in flight.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a place freed between the
            // check and the wait is not missed.
            freed.as_mut().enable();
            let taken = {
                let mut s = self.lock();
                let open = s
                    .limit
                    .is_none_or(|limit| (s.in_flight as f64) < limit.floor());
                open.then(|| {
                    s.in_flight += 1;
                    s.peak = s.peak.max(s.in_flight);
                    let permit = Permit {
                        limiter: self.clone(),
                        round: s.round,
                    };
                    (permit, s.paced_start())
                })
            };
            if let Some((permit, start)) = taken {
                // Held while it waits: a dropped wait gives it back.
                if let Some(start) = start {
                    tokio::time::sleep_until(start).await;
                }
                return permit;
            }
            freed.await;
        }
    }

    /// Its state now.
    pub fn state(&self) -> LimiterState {
        let s = *self.lock();
        LimiterState {
            limit: s.limit.map(|l| l.floor() as usize),
            in_flight: s.in_flight,
            in_flight_peak: s.peak,
            cuts: s.cuts,
            lowest_limit: s.lowest,
            spacing_s: (!s.spacing.is_zero()).then_some(s.spacing.as_secs_f64()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// When a request let in now may start, if the lane is paced (and
    /// the next one's turn moved on past it).
    fn paced_start(&mut self) -> Option<Instant> {
        if self.spacing.is_zero() {
            return None;
        }
        let now = Instant::now();
        let start = self.next_start.map_or(now, |at| at.max(now));
        self.next_start = Some(start + self.spacing);
        (start > now).then_some(start)
    }
}

impl Permit {
    /// The store answered the request with `status`.
    pub fn answered(&self, status: u16) {
        let mut s = self.limiter.lock();
        if matches!(status, 503 | 429) {
            if self.round != s.round {
                return; // sent before the last cut
            }
            s.round += 1;
            s.cuts += 1;
            // A window of one still throttled: pace the starts.
            if !s.spacing.is_zero() || s.limit == Some(MIN_LIMIT) {
                s.spacing = s.spacing.mul_f64(WIDEN).max(FIRST_SPACING);
                return;
            }
            let width = s.in_flight as f64;
            let cut = (s.limit.map_or(width, |l| l.min(width)) / 2.0)
                .floor()
                .max(MIN_LIMIT);
            s.limit = Some(cut);
            s.lowest = Some(s.lowest.map_or(cut as usize, |l| l.min(cut as usize)));
            return;
        }
        if !s.spacing.is_zero() {
            s.spacing = s.spacing.mul_f64(NARROW);
            if s.spacing < MIN_SPACING {
                (s.spacing, s.next_start) = (Duration::ZERO, None);
            }
            return;
        }
        let Some(limit) = s.limit else { return };
        // Grow only while the window is used: an idle lane's limit says
        // nothing about what the store can take.
        if (s.in_flight as f64) * 2.0 >= limit {
            let grown = limit + 1.0;
            s.limit = (grown <= s.peak as f64).then_some(grown);
            drop(s);
            self.limiter.freed.notify_one();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limiter.lock().in_flight -= 1;
        self.limiter.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> Arc<Limiter> {
        Arc::new(Limiter::default())
    }

    async fn take(limiter: &Arc<Limiter>, n: usize) -> Vec<Permit> {
        let mut permits = Vec::new();
        for _ in 0..n {
            permits.push(limiter.acquire().await);
        }
        permits
    }

    #[test]
    fn unlimited_until_throttled() {
        crate::runtime::block_on(async {
            let l = limiter();
            let permits = take(&l, 100).await;
            let s = l.state();
            assert_eq!(
                (s.limit, s.in_flight, s.in_flight_peak, s.cuts),
                (None, 100, 100, 0)
            );
            drop(permits);
            assert_eq!(l.state().in_flight, 0);
        })
    }

    #[test]
    fn a_burst_of_throttles_cuts_once_per_round() {
        crate::runtime::block_on(async {
            let l = limiter();
            let permits = take(&l, 64).await;
            for p in &permits {
                p.answered(503);
            }
            let s = l.state();
            assert_eq!((s.limit, s.cuts), (Some(32), 1));
            drop(permits);
            // A request of the new round throttled: cut again, from the
            // width in use when it is below the limit.
            let permits = take(&l, 20).await;
            permits[0].answered(429);
            permits[1].answered(429);
            assert_eq!((l.state().limit, l.state().cuts), (Some(10), 2));
            drop(permits);
            for _ in 0..10 {
                let p = l.acquire().await;
                p.answered(503);
            }
            assert_eq!(l.state().limit, Some(1));
            assert_eq!(l.state().lowest_limit, Some(1));
        })
    }

    #[test]
    fn the_limit_holds_requests_back_and_lets_them_in_as_places_free() {
        crate::runtime::block_on(async {
            let l = limiter();
            let first = take(&l, 8).await;
            first[0].answered(503); // 8 in flight: limit 4
            drop(first);
            let held = take(&l, 4).await;
            let fifth_in = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let waiting = crate::runtime::spawn({
                let (l, fifth_in) = (l.clone(), fifth_in.clone());
                async move {
                    let permit = l.acquire().await;
                    fifth_in.store(true, std::sync::atomic::Ordering::SeqCst);
                    permit
                }
            });
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let waited = !fifth_in.load(std::sync::atomic::Ordering::SeqCst);
            assert!(waited, "a fifth request waits at limit 4");
            assert_eq!(l.state().in_flight, 4);
            drop(held);
            let fifth = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
                .await
                .expect("let in once a place is free");
            assert_eq!(l.state().in_flight, 1);
            drop(fifth);
        })
    }

    #[test]
    fn answers_that_are_not_throttled_grow_it_back_to_unlimited() {
        crate::runtime::block_on(async {
            let l = limiter();
            let first = take(&l, 16).await;
            first[0].answered(503);
            drop(first);
            assert_eq!(l.state().limit, Some(8));
            let mut grew = vec![8];
            for _ in 0..20 {
                let permits = take(&l, l.state().limit.unwrap_or(16)).await;
                for p in &permits {
                    p.answered(200);
                }
                drop(permits);
                grew.push(l.state().limit.unwrap_or(usize::MAX));
            }
            assert!(grew.windows(2).all(|w| w[1] >= w[0]), "{grew:?}");
            assert_eq!(
                l.state().limit,
                None,
                "wider than the peak of 16: unlimited"
            );
            assert_eq!(l.state().lowest_limit, Some(8));
        })
    }

    #[test]
    fn an_idle_lane_does_not_grow() {
        crate::runtime::block_on(async {
            let l = limiter();
            let first = take(&l, 16).await;
            first[0].answered(503);
            drop(first);
            for _ in 0..50 {
                let p = l.acquire().await; // 1 in flight of 8
                p.answered(200);
            }
            assert_eq!(l.state().limit, Some(8));
        })
    }

    #[test]
    fn a_window_of_one_still_throttled_paces_its_starts() {
        crate::runtime::block_on(async {
            let l = limiter();
            let first = take(&l, 2).await;
            first[0].answered(503);
            drop(first);
            assert_eq!(l.state().limit, Some(1));
            assert_eq!(l.state().spacing_s, None, "a window above one is cut first");
            let p = l.acquire().await;
            p.answered(503);
            drop(p);
            let spacing = l.state().spacing_s.expect("paced");
            assert!((spacing - 0.001).abs() < 1e-9, "{spacing}");
            let started = std::time::Instant::now();
            for _ in 0..5 {
                drop(l.acquire().await);
            }
            let took = started.elapsed();
            assert!(
                took >= Duration::from_millis(4),
                "starts 1 ms apart: {took:?}"
            );
            let p = l.acquire().await;
            p.answered(429);
            drop(p);
            let wider = l.state().spacing_s.unwrap();
            assert!((wider - 0.00115).abs() < 1e-9, "{wider}");
            for _ in 0..1000 {
                let p = l.acquire().await;
                p.answered(200);
            }
            assert_eq!(l.state().spacing_s, None, "narrowed to nothing: not paced");
            assert_eq!(
                l.state().limit,
                None,
                "then the window grew back past its peak"
            );
        })
    }
}
