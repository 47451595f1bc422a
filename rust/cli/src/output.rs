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

/// Seconds since the epoch, for JSON.
fn unix_seconds(t: Option<SystemTime>) -> Option<f64> {
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

/// One object's metadata as a `ls --long` line.
pub fn meta_line(m: &ObjectMeta) -> String {
    let when = unix_seconds(m.last_modified)
        .map(|s| format!("{s:.0}"))
        .unwrap_or_else(|| "-".to_owned());
    format!("{:>14} {:>12} {}", m.size, when, m.uri)
}
