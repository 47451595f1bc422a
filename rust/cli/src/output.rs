//! What the user sees: progress bars on a terminal, JSON, one-line errors.

use std::io::IsTerminal;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use s3dlio_core::ObjectMeta;

/// A byte progress bar drawn on stderr only when it is a terminal and not
/// `--quiet`; otherwise hidden (nothing is written to a pipe).
pub fn progress(total_bytes: u64, objects: usize, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{bytes}/{total_bytes} {wide_bar} {msg} {binary_bytes_per_sec} ETA {eta}",
        )
        .expect("valid progress template"),
    );
    bar.set_message(format!("0/{objects} objects"));
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// A progress bar counting `total` things (`unit`: "requests"), drawn
/// like [`progress`] only on a terminal and without `--quiet`.
pub fn count_progress(total: u64, unit: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{pos}}/{{len}} {unit} {{wide_bar}} {{per_sec}} ETA {{eta}}"
        ))
        .expect("valid progress template"),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Seconds since the epoch, for JSON.
pub fn unix_seconds(t: Option<SystemTime>) -> Option<f64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
}

/// One object's metadata as a JSON object.
pub fn meta_json(m: &ObjectMeta) -> serde_json::Value {
    serde_json::json!({
        "uri": m.uri,
        "size": m.size,
        "last_modified": unix_seconds(m.last_modified),
        "etag": m.etag,
    })
}

/// One object's metadata as a `ls --long` line: size, modification time
/// (RFC 3339, UTC, to the second), URI.
pub fn meta_line(m: &ObjectMeta) -> String {
    let when = m
        .last_modified
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| rfc3339_utc(d.as_secs()))
        .unwrap_or_else(|| "-".to_owned());
    format!("{:>14} {:>20} {}", m.size, when, m.uri)
}

/// `secs` after the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339_utc(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339_utc(4_102_444_800), "2100-01-01T00:00:00Z");
    }
}
