//! Several endpoints of one S3-compatible store (`AWS_ENDPOINT_URLS=a,b,c`,
//! the front ends of a MinIO, Ceph RGW, VAST or Weka cluster) behind one
//! [`ObjectStore`]: one object_store client per endpoint, each signing for
//! its own host, and every request sent to the endpoint with the fewest
//! requests outstanding (`S3DLIO_ENDPOINT_POLICY=least_outstanding`, the
//! default) or to each in turn (`round_robin`).
//!
//! An endpoint that refuses connections is taken out for a back-off (1 s,
//! doubling to 30 s while it keeps failing) and the request goes to another
//! at once: the clients of a set are built to answer a failed connect
//! unretried ([`http::unreachable`]), so object_store's own retries, made
//! for one endpoint, do not spend a minute on a dead one. When its back-off
//! is over, the next request it is picked for is the probe: answered, the
//! endpoint is back; refused, the back-off doubles and the request moves
//! on. When every endpoint refused, the request waits and goes round again
//! within the retry budget (`S3DLIO_MAX_RETRIES`, `S3DLIO_RETRY_TIMEOUT`),
//! as a single endpoint's request would be retried.
//!
//! Only connects are failed over: they are the failures that cannot have
//! reached the store. Every other error (5xx, throttling, a body broken off)
//! is retried by the endpoint's own client, as for a single endpoint.
//! A multipart upload, once created, stays on its endpoint, and so do a
//! listing's later pages and a batch delete's stream.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use crate::http::unreachable;

/// A refused endpoint's first back-off.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The wait before going round again when every endpoint refused, doubling.
const ROUND_WAIT: Duration = Duration::from_millis(100);

/// How a request's endpoint is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    LeastOutstanding,
    RoundRobin,
}

/// The endpoints of one store.
#[derive(Debug)]
pub(crate) struct Endpoints {
    all: Vec<Arc<Endpoint>>,
    policy: Policy,
    turn: AtomicUsize,
    /// Rounds over every endpoint a request may make, and for how long.
    max_rounds: usize,
    round_budget: Duration,
}

#[derive(Debug)]
struct Endpoint {
    url: String,
    store: Arc<dyn ObjectStore>,
    outstanding: AtomicUsize,
    /// Requests sent to it so far: among endpoints as little busy, the
    /// one sent the fewest goes first, so equal endpoints get equal shares.
    sent: AtomicUsize,
    health: Mutex<Health>,
}

#[derive(Debug, Default)]
struct Health {
    /// Out until then; `None`: in.
    out_until: Option<Instant>,
    backoff: Duration,
}

/// One request outstanding at an endpoint, until dropped.
struct Outstanding(Arc<Endpoint>);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Relaxed);
    }
}

impl Endpoint {
    fn is_in(&self, now: Instant) -> bool {
        self.lock().out_until.is_none_or(|until| until <= now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refused(&self) {
        let mut health = self.lock();
        if health.out_until.is_some_and(|until| until > Instant::now()) {
            return; // already out: another request in flight saw the same outage
        }
        health.backoff = match health.backoff.is_zero() {
            true => FIRST_BACKOFF,
            false => (health.backoff * 2).min(MAX_BACKOFF),
        };
        health.out_until = Some(Instant::now() + health.backoff);
    }

    fn answered(&self) {
        let mut health = self.lock();
        if health.out_until.is_some() {
            *health = Health::default();
        }
    }
}

impl Endpoints {
    /// `stores` with their URLs, in the order given.
    pub(crate) fn new(
        stores: Vec<(String, Arc<dyn ObjectStore>)>,
        policy: Policy,
        max_rounds: usize,
        round_budget: Duration,
    ) -> Self {
        let all = stores
            .into_iter()
            .map(|(url, store)| {
                Arc::new(Endpoint {
                    url,
                    store,
                    outstanding: AtomicUsize::new(0),
                    sent: AtomicUsize::new(0),
                    health: Mutex::default(),
                })
            })
            .collect();
        Self {
            all,
            policy,
            turn: AtomicUsize::new(0),
            max_rounds,
            round_budget,
        }
    }

    /// The endpoint for a request that has tried `tried`: one that is in,
    /// else (all of those left are out) the one whose back-off ends first.
    fn pick(&self, tried: &[usize]) -> Option<usize> {
        let now = Instant::now();
        let left = || (0..self.all.len()).filter(|i| !tried.contains(i));
        let is_in: Vec<usize> = left().filter(|&i| self.all[i].is_in(now)).collect();
        if is_in.is_empty() {
            return left().min_by_key(|&i| self.all[i].lock().out_until);
        }
        Some(match self.policy {
            Policy::RoundRobin => is_in[self.turn.fetch_add(1, Relaxed) % is_in.len()],
            Policy::LeastOutstanding => {
                // Ties go to the endpoint sent the fewest so far.
                let load = |i: usize| {
                    let e = &self.all[i];
                    (e.outstanding.load(Relaxed), e.sent.load(Relaxed))
                };
                is_in
                    .iter()
                    .copied()
                    .min_by_key(|&i| load(i))
                    .expect("at least one endpoint is in")
            }
        })
    }

    /// `op` on an endpoint, moved to another while endpoints refuse it; what
    /// the answer needs of the endpoint is held by the guard it is given.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn(Arc<dyn ObjectStore>, Outstanding) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let mut tried = Vec::new();
        let mut rounds = 0;
        loop {
            let i = self
                .pick(&tried)
                .expect("a round ends once every endpoint is tried");
            let endpoint = &self.all[i];
            endpoint.outstanding.fetch_add(1, Relaxed);
            endpoint.sent.fetch_add(1, Relaxed);
            let outstanding = Outstanding(endpoint.clone());
            let err = match op(endpoint.store.clone(), outstanding).await {
                Err(e) if unreachable::find(&e).is_some() => e,
                answered => {
                    endpoint.answered();
                    return answered;
                }
            };
            endpoint.refused();
            tried.push(i);
            if tried.len() < self.all.len() {
                continue;
            }
            // Every endpoint refused: wait, then go round again.
            rounds += 1;
            let wait = ROUND_WAIT * 2u32.saturating_pow(rounds as u32 - 1);
            if rounds > self.max_rounds || started.elapsed() + wait > self.round_budget {
                return Err(err);
            }
            tokio::time::sleep(wait).await;
            tried.clear();
        }
    }

    /// Requests outstanding at each endpoint now (for tests).
    #[cfg(test)]
    fn outstanding(&self) -> Vec<usize> {
        self.all
            .iter()
            .map(|e| e.outstanding.load(Relaxed))
            .collect()
    }
}

impl std::fmt::Display for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<&str> = self.all.iter().map(|e| e.url.as_str()).collect();
        write!(f, "Endpoints({})", urls.join(","))
    }
}

/// `result` with its body holding `outstanding` until read or dropped.
fn holding(mut result: GetResult, outstanding: Outstanding) -> GetResult {
    if let GetResultPayload::Stream(body) = result.payload {
        result.payload = GetResultPayload::Stream(
            body.map(move |chunk| {
                let _held = &outstanding;
                chunk
            })
            .boxed(),
        );
    }
    result
}

#[async_trait]
impl ObjectStore for Endpoints {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.run(|store, _out| {
            let (payload, opts) = (payload.clone(), opts.clone());
            async move { store.put_opts(location, payload, opts).await }
        })
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.run(|store, _out| {
            let opts = opts.clone();
            async move { store.put_multipart_opts(location, opts).await }
        })
        .await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.run(|store, out| {
            let options = options.clone();
            async move { Ok(holding(store.get_opts(location, options).await?, out)) }
        })
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        // A stream of paths cannot be sent twice: it stays where it starts.
        let i = self.pick(&[]).expect("a set has endpoints");
        self.all[i].store.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list_from(prefix.cloned(), None)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list_from(prefix.cloned(), Some(offset.clone()))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.run(|store, _out| async move { store.list_with_delimiter(prefix).await })
            .await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.run(|store, _out| {
            let options = options.clone();
            async move { store.copy_opts(from, to, options).await }
        })
        .await
    }
}

impl Endpoints {
    /// A listing whose first page is moved to another endpoint while
    /// endpoints refuse it; its later pages come from where it began.
    fn list_from(
        &self,
        prefix: Option<Path>,
        offset: Option<Path>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let this = Self {
            all: self.all.clone(),
            policy: self.policy,
            turn: AtomicUsize::new(self.turn.fetch_add(1, Relaxed)),
            max_rounds: self.max_rounds,
            round_budget: self.round_budget,
        };
        let first = async move {
            let begun = this
                .run(|store, out| {
                    let (prefix, offset) = (prefix.clone(), offset.clone());
                    async move {
                        let mut listing = match &offset {
                            Some(offset) => store.list_with_offset(prefix.as_ref(), offset),
                            None => store.list(prefix.as_ref()),
                        };
                        let head = listing.next().await.transpose()?;
                        Ok((head, listing, out))
                    }
                })
                .await;
            match begun {
                Ok((head, rest, out)) => {
                    let rest = rest.map(move |item| {
                        let _held = &out;
                        item
                    });
                    stream::iter(head.map(Ok)).chain(rest).boxed()
                }
                Err(e) => stream::once(async { Err(e) }).boxed(),
            }
        };
        stream::once(first).flatten().boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    fn set(n: usize, policy: Policy) -> (Endpoints, Vec<Arc<InMemory>>) {
        let stores: Vec<Arc<InMemory>> = (0..n).map(|_| Arc::new(InMemory::new())).collect();
        let named = stores
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("mem://{i}"), s.clone() as Arc<dyn ObjectStore>))
            .collect();
        (
            Endpoints::new(named, policy, 3, Duration::from_secs(5)),
            stores,
        )
    }

    #[test]
    fn round_robin_takes_each_in_turn() {
        let (set, _) = set(3, Policy::RoundRobin);
        let picks: Vec<usize> = (0..6).map(|_| set.pick(&[]).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn least_outstanding_avoids_the_busy_endpoint() {
        let (set, _) = set(3, Policy::LeastOutstanding);
        set.all[0].outstanding.store(5, Relaxed);
        set.all[2].outstanding.store(1, Relaxed);
        for _ in 0..5 {
            assert_eq!(set.pick(&[]), Some(1));
        }
        set.all[1].outstanding.store(9, Relaxed);
        assert_eq!(set.pick(&[]), Some(2));
        // As busy as each other: the one sent the fewest.
        for (e, sent) in set.all.iter().zip([3, 1, 2]) {
            e.outstanding.store(0, Relaxed);
            e.sent.store(sent, Relaxed);
        }
        assert_eq!(set.pick(&[]), Some(1));
    }

    #[test]
    fn a_refused_endpoint_is_out_until_its_back_off_ends() {
        let (set, _) = set(2, Policy::RoundRobin);
        set.all[0].refused();
        for _ in 0..4 {
            assert_eq!(set.pick(&[]), Some(1));
        }
        // Out of the others, the one back soonest is still tried.
        assert_eq!(set.pick(&[1]), Some(0));
        set.all[0].lock().out_until = Some(Instant::now());
        assert!(
            set.all[0].is_in(Instant::now()),
            "back-off over: the next pick probes it"
        );
        set.all[0].refused();
        assert_eq!(
            set.all[0].lock().backoff,
            FIRST_BACKOFF * 2,
            "probe refused: doubled"
        );
        set.all[0].answered();
        assert!(set.all[0].is_in(Instant::now()));
        assert_eq!(set.all[0].lock().backoff, Duration::ZERO);
    }

    #[test]
    fn a_get_holds_its_endpoint_until_its_body_is_dropped() {
        crate::runtime::block_on(async {
            let (set, stores) = set(2, Policy::LeastOutstanding);
            let path = Path::from("k");
            for s in &stores {
                s.put(&path, PutPayload::from_static(b"abc")).await.unwrap();
            }
            let got = set.get_opts(&path, GetOptions::default()).await.unwrap();
            assert_eq!(set.outstanding().iter().sum::<usize>(), 1);
            assert_eq!(got.bytes().await.unwrap().as_ref(), b"abc");
            assert_eq!(set.outstanding(), [0, 0]);
            let listed: Vec<_> = set.list(None).collect().await;
            assert_eq!(listed.len(), 1);
            assert_eq!(set.outstanding(), [0, 0]);
        })
    }
}
