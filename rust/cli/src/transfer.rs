//! Transfers: get, download, upload, cp. A local destination is written a
//! part at a time under a temporary name that is renamed into place on
//! success (`get_to_file`), so a large object never sits in memory whole,
//! and an interrupted or failed transfer never leaves a partial file under
//! its final name. An upload from a local file above the multipart
//! threshold reads its parts as it sends them (`put_from_file`).
//!
//! A download or upload is planned whole before anything is sent: two
//! sources bound for one destination (or an object where another needs a
//! directory) are refused, naming both, rather than one silently
//! overwriting the other. Before a download writes into a directory it
//! removes the temporary files that a killed download left there
//! (`remove_stale_temporaries`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use futures::{stream, StreamExt, TryStreamExt};
use s3dlio_core::{Error, Options, Result};

use crate::args::Range;
use crate::output::progress;
use crate::walk;

/// The `file://` URI of a local path (made absolute; it must be UTF-8).
pub fn local_uri(path: &Path) -> Result<String> {
    let abs = std::path::absolute(path)
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
    let abs = abs.to_str().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{:?}: the path is not UTF-8, so no URI can name it",
            path.as_os_str()
        ))
    })?;
    Ok(format!("file://{abs}"))
}

async fn fetch(uri: &str, range: Range, options: &Options) -> Result<bytes::Bytes> {
    if range.offset == 0 && range.length.is_none() {
        s3dlio_core::get(uri, options).await
    } else {
        s3dlio_core::get_range(uri, range.offset, range.length, options).await
    }
}

fn is_local(uri: &str) -> bool {
    uri.starts_with("file://") || uri.starts_with("direct://")
}

/// `range` of `src` stored as `dst`, a part at a time where either end is
/// a local file, so a large object never sits in memory whole: written
/// into a local destination part by part, or uploaded from a local source
/// in parts read as they are sent. Between two stores, fetched whole.
async fn transfer(src: &str, range: Range, dst: &str, options: &Options) -> Result<()> {
    let whole = range.offset == 0 && range.length.is_none();
    if is_local(dst) {
        let range = s3dlio_core::ByteRange {
            offset: range.offset,
            length: range.length,
        };
        return s3dlio_core::get_to_file(src, range, dst, options)
            .await
            .map(|_| ());
    }
    if is_local(src) && whole {
        return s3dlio_core::put_from_file(src, dst, options).await;
    }
    let data = fetch(src, range, options).await?;
    s3dlio_core::put(dst, data, options).await
}

/// `get URI [-o FILE]`: the bytes to stdout, or to FILE atomically.
pub async fn get(uri: &str, output: Option<&str>, range: Range, options: &Options) -> Result<()> {
    match output {
        Some(file) => transfer(uri, range, &local_uri(Path::new(file))?, options).await,
        None => {
            let data = fetch(uri, range, options).await?;
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&data)
                .and_then(|()| out.flush())
                .map_err(|e| Error::Io {
                    uri: "stdout".to_owned(),
                    source: e,
                })
        }
    }
}

/// Where each source object goes: `(source URI, size, destination)`.
type Plan = Vec<(String, u64, String)>;

/// A URI names an object when it stats as one; otherwise it is a prefix.
async fn expand(uri: &str, options: &Options) -> Result<Vec<(String, u64, String)>> {
    match s3dlio_core::stat(uri, options).await {
        Ok(meta) => {
            let name = uri.rsplit('/').next().unwrap_or_default().to_owned();
            Ok(vec![(uri.to_owned(), meta.size, name)])
        }
        Err(e) if e.is_not_found() || matches!(e, Error::InvalidUri { .. }) => {
            let metas = s3dlio_core::list_meta(uri, true, options).await?;
            if metas.is_empty() {
                return Err(Error::NotFound {
                    uri: uri.to_owned(),
                    source: None,
                });
            }
            let base = format!("{}/", uri.trim_end_matches('/'));
            Ok(metas
                .into_iter()
                .map(|m| {
                    let rel = m.uri.strip_prefix(&base).unwrap_or(&m.uri).to_owned();
                    (m.uri, m.size, rel)
                })
                .collect())
        }
        Err(e) => Err(e),
    }
}

async fn run_plan(
    plan: Plan,
    range: Range,
    jobs: usize,
    quiet: bool,
    options: &Options,
) -> Result<()> {
    let total = plan.iter().map(|(_, size, _)| size).sum();
    let count = plan.len();
    let bar = progress(total, count, quiet);
    let done = std::sync::atomic::AtomicUsize::new(0);
    stream::iter(plan.into_iter().map(|(src, size, dst)| {
        let (bar, done) = (&bar, &done);
        async move {
            transfer(&src, range, &dst, options).await?;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            bar.inc(size);
            bar.set_message(format!("{n}/{count} objects"));
            Ok::<(), Error>(())
        }
    }))
    .buffer_unordered(jobs.max(1))
    .try_collect::<Vec<()>>()
    .await?;
    bar.finish_and_clear();
    Ok(())
}

/// `download URI... DEST`: objects keep their names, prefixes their layout.
pub async fn download(
    paths: &[String],
    range: Range,
    jobs: usize,
    quiet: bool,
    options: &Options,
) -> Result<()> {
    let (dest, sources) = paths.split_last().expect("clap requires two paths");
    let dest = PathBuf::from(dest);
    let mut plan = Plan::new();
    let mut dirs = BTreeSet::new();
    for uri in sources {
        for (src, size, rel) in expand(uri, options).await? {
            let file = dest.join(safe_relative(&src, &rel, &dest)?);
            dirs.extend(file.parent().map(Path::to_path_buf));
            plan.push((src, size, local_uri(&file)?));
        }
    }
    let plan = without_repeats(plan);
    refuse_collisions(&plan, true)?;
    for dir in &dirs {
        let removed = s3dlio_core::remove_stale_temporaries(dir)?;
        if removed > 0 {
            eprintln!(
                "s3dlio: removed {removed} temporary files left in {} by killed transfers",
                dir.display()
            );
        }
    }
    run_plan(plan, range, jobs, quiet, options).await
}

/// `rel`, the local name of `src` under `dest`, when it stays under
/// `dest`: no empty, `.` or `..` part (keys such as `a//b` or `../x` are
/// legal in object stores).
fn safe_relative<'a>(src: &str, rel: &'a str, dest: &Path) -> Result<&'a str> {
    if rel.split('/').any(|part| matches!(part, "" | "." | "..")) {
        return Err(Error::InvalidArgument(format!(
            "download: {src} has no safe local name under {} (a part of {rel:?} is \
             empty, '.' or '..'); nothing was transferred",
            dest.display()
        )));
    }
    Ok(rel)
}

/// `plan` with a source named twice for the same destination kept once.
fn without_repeats(plan: Plan) -> Plan {
    let mut seen = HashSet::with_capacity(plan.len());
    plan.into_iter()
        .filter(|(src, _, dst)| seen.insert((src.clone(), dst.clone())))
        .collect()
}

/// An error when two sources of `plan` go to one destination, or (for a
/// local destination) one source goes where another needs a directory.
fn refuse_collisions(plan: &Plan, local: bool) -> Result<()> {
    let mut source_of: HashMap<&str, &str> = HashMap::with_capacity(plan.len());
    for (src, _, dst) in plan {
        if let Some(other) = source_of.insert(dst, src) {
            return Err(Error::InvalidArgument(format!(
                "{other} and {src} would both be written to {dst}; nothing was transferred"
            )));
        }
    }
    if !local {
        return Ok(());
    }
    for (src, _, dst) in plan {
        let mut dir = dst.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if let Some(other) = source_of.get(parent) {
                return Err(Error::InvalidArgument(format!(
                    "{other} would be written to {parent}, where {src} needs a directory \
                     (for {dst}); nothing was transferred"
                )));
            }
            dir = parent;
        }
    }
    Ok(())
}

/// `upload FILE|DIR... URI`: files go under the prefix by name, directories
/// keep their layout (see [`walk`] for symlinks and special files).
pub async fn upload(
    paths: &[String],
    jobs: usize,
    follow_symlinks: bool,
    quiet: bool,
    options: &Options,
) -> Result<()> {
    let (dest, sources) = paths.split_last().expect("clap requires two paths");
    let base = dest.trim_end_matches('/');
    let mut plan = Plan::new();
    for source in sources {
        for found in walk::files(Path::new(source), follow_symlinks)? {
            let dst = format!("{base}/{}", found.key);
            plan.push((local_uri(&found.path)?, found.size, dst));
        }
    }
    let plan = without_repeats(plan);
    refuse_collisions(&plan, is_local(dest))?;
    run_plan(
        plan,
        Range {
            offset: 0,
            length: None,
        },
        jobs,
        quiet,
        options,
    )
    .await
}

/// `cp SRC DST`: one object between any two backends (a part at a time to
/// or from a local file; between stores fetched in parallel ranges and
/// uploaded in parts).
pub async fn cp(src: &str, dst: &str, quiet: bool, options: &Options) -> Result<()> {
    let size = s3dlio_core::stat(src, options).await?.size;
    let plan = vec![(src.to_owned(), size, dst.to_owned())];
    run_plan(
        plan,
        Range {
            offset: 0,
            length: None,
        },
        1,
        quiet,
        options,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(pairs: &[(&str, &str)]) -> Plan {
        pairs
            .iter()
            .map(|(s, d)| (s.to_string(), 1, d.to_string()))
            .collect()
    }

    #[test]
    fn two_sources_for_one_destination_are_refused_naming_both() {
        let p = plan(&[
            ("s3://b/c1/x", "file:///d/x"),
            ("s3://b/c2/x", "file:///d/x"),
        ]);
        let err = refuse_collisions(&p, true).unwrap_err().to_string();
        assert!(err.contains("s3://b/c1/x and s3://b/c2/x") && err.contains("file:///d/x"));
        let repeated = plan(&[("s3://b/x", "file:///d/x"), ("s3://b/x", "file:///d/x")]);
        assert_eq!(without_repeats(repeated).len(), 1);
    }

    #[test]
    fn a_file_where_a_directory_is_needed_is_refused_locally_only() {
        let p = plan(&[
            ("s3://b/a/x", "file:///d/x"),
            ("s3://b/b/x/y", "file:///d/x/y"),
        ]);
        let err = refuse_collisions(&p, true).unwrap_err().to_string();
        assert!(
            err.contains("s3://b/a/x") && err.contains("s3://b/b/x/y"),
            "{err}"
        );
        let remote = plan(&[("file:///a", "s3://b/x"), ("file:///b", "s3://b/x/y")]);
        assert!(refuse_collisions(&remote, false).is_ok());
    }

    #[test]
    fn keys_that_would_leave_the_destination_are_refused() {
        let dest = Path::new("/d");
        assert!(safe_relative("s3://b/p/x", "x/y", dest).is_ok());
        for rel in ["../x", "a/../../x", "/abs", "a//b", "./a", ""] {
            assert!(safe_relative("s3://b/k", rel, dest).is_err(), "{rel:?}");
        }
    }
}
