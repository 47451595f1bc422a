//! `s3dlio cache stats DIR` and `s3dlio cache clear DIR`: what a local
//! cache of remote objects holds, and emptying it. Only a directory the
//! library made (marked `.s3dlio-cache`) is read or touched.

use std::time::{SystemTime, UNIX_EPOCH};

use s3dlio_core::{CacheStats, Result};

use crate::args::CacheAction;
use crate::output::{rfc3339_utc, unix_seconds};

fn when(t: Option<SystemTime>) -> String {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| rfc3339_utc(d.as_secs()))
        .unwrap_or_else(|| "-".to_owned())
}

fn json(dir: &std::path::Path, stats: &CacheStats) -> serde_json::Value {
    serde_json::json!({
        "dir": dir.display().to_string(),
        "objects": stats.entries,
        "bytes": stats.bytes,
        "oldest_use": unix_seconds(stats.oldest),
        "newest_use": unix_seconds(stats.newest),
    })
}

/// Run `action`; the report as JSON with `as_json`, else one line.
pub fn run(action: &CacheAction, as_json: bool) -> Result<()> {
    let (dir, stats, verb) = match action {
        CacheAction::Stats { dir } => (dir, s3dlio_core::cache_stats(dir)?, "holds"),
        CacheAction::Clear { dir } => (dir, s3dlio_core::clear_cache(dir)?, "removed"),
    };
    if as_json {
        println!("{}", json(dir, &stats));
    } else {
        println!(
            "{}: {verb} {} objects, {} bytes (last used {} .. {})",
            dir.display(),
            stats.entries,
            stats.bytes,
            when(stats.oldest),
            when(stats.newest)
        );
    }
    Ok(())
}
