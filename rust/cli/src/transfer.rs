//! Transfers: get, download, upload, cp. A local destination is written a
//! part at a time under a temporary name that is renamed into place on
//! success (`get_to_file`), so a large object never sits in memory whole,
//! and an interrupted or failed transfer never leaves a partial file under
//! its final name. An upload from a local file above the multipart
//! threshold reads its parts as it sends them (`put_from_file`).

use std::path::{Path, PathBuf};

use futures::{stream, StreamExt, TryStreamExt};
use s3dlio_core::{Error, Options, Result};

use crate::args::Range;
use crate::output::progress;

/// The `file://` URI of a local path (made absolute).
pub fn local_uri(path: &Path) -> Result<String> {
    let abs = std::path::absolute(path)
        .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
    Ok(format!("file://{}", abs.display()))
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
    for uri in sources {
        for (src, size, rel) in expand(uri, options).await? {
            plan.push((src, size, local_uri(&dest.join(rel))?));
        }
    }
    run_plan(plan, range, jobs, quiet, options).await
}

fn walk(root: &Path, rel: PathBuf, out: &mut Vec<(PathBuf, PathBuf)>) -> std::io::Result<()> {
    let path = root.join(&rel);
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(&path)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            walk(root, rel.join(entry.file_name()), out)?;
        }
    } else {
        out.push((path, rel));
    }
    Ok(())
}

/// `upload FILE|DIR... URI`: files go under the prefix by name, directories
/// keep their layout.
pub async fn upload(paths: &[String], jobs: usize, quiet: bool, options: &Options) -> Result<()> {
    let (dest, sources) = paths.split_last().expect("clap requires two paths");
    let base = dest.trim_end_matches('/');
    let mut plan = Plan::new();
    for source in sources {
        let path = Path::new(source);
        let mut files = Vec::new();
        let start = if path.is_dir() {
            PathBuf::new()
        } else {
            PathBuf::from(path.file_name().unwrap_or_default())
        };
        let root = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent().unwrap_or(Path::new(".")).to_path_buf()
        };
        walk(&root, start, &mut files).map_err(|e| Error::from_io(source, e))?;
        for (file, rel) in files {
            let size = std::fs::metadata(&file)
                .map_err(|e| Error::from_io(source, e))?
                .len();
            plan.push((local_uri(&file)?, size, format!("{base}/{}", rel.display())));
        }
    }
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
