//! The files an `upload` of local paths sends, and the keys they get.
//!
//! A path named on the command line is followed if it is a symlink. Inside
//! a directory, a symlink to a file is uploaded as that file; a symlink to
//! a directory is skipped with a warning unless `--follow-symlinks`, and
//! then skipped as a loop when it leads back to a directory being walked
//! (device and inode), so `a -> .` never makes the walk endless. FIFOs,
//! sockets, devices, dangling and looping symlinks are skipped with a
//! warning naming the exact path. A name that is not UTF-8 cannot be a key
//! and fails the upload before anything is sent; every error names the
//! exact path it is about.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use s3dlio_core::{Error, Result};

/// A regular file to upload: its path, its size, and its key relative to
/// the destination prefix (`/`-separated).
pub struct Found {
    pub path: PathBuf,
    pub size: u64,
    pub key: String,
}

/// Every file under `source` (a file or a directory named on the command
/// line), in name order.
pub fn files(source: &Path, follow_symlinks: bool) -> Result<Vec<Found>> {
    let meta = fs::metadata(source).map_err(|e| io_error(source, e))?;
    let mut walk = Walk {
        follow_symlinks,
        above: Vec::new(),
        found: Vec::new(),
    };
    if meta.is_dir() {
        walk.directory(source, "", &meta)?;
    } else if meta.is_file() {
        let name = source.file_name().ok_or_else(|| {
            Error::InvalidArgument(format!("{}: names no file", source.display()))
        })?;
        let key = utf8(source, name)?.to_owned();
        walk.found.push(Found {
            path: source.to_path_buf(),
            size: meta.len(),
            key,
        });
    } else {
        return Err(Error::InvalidArgument(format!(
            "{}: not a regular file or a directory",
            source.display()
        )));
    }
    Ok(walk.found)
}

/// An I/O error about `path`, naming it.
fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::from_io(&path.display().to_string(), e)
}

/// `name` (the last part of `path`) as UTF-8, or an error naming `path`
/// with its bytes escaped.
fn utf8<'a>(path: &Path, name: &'a std::ffi::OsStr) -> Result<&'a str> {
    name.to_str().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{:?}: the name is not UTF-8, so it cannot be an object key; rename it",
            path.as_os_str()
        ))
    })
}

fn warn(path: &Path, why: &str) {
    eprintln!("s3dlio: warning: skipping {}: {why}", path.display());
}

struct Walk {
    follow_symlinks: bool,
    /// (device, inode) of the directories being walked, outermost first.
    above: Vec<(u64, u64)>,
    found: Vec<Found>,
}

impl Walk {
    fn directory(&mut self, dir: &Path, key: &str, meta: &fs::Metadata) -> Result<()> {
        self.above.push((meta.dev(), meta.ino()));
        let mut entries = fs::read_dir(dir)
            .and_then(|entries| entries.collect::<std::io::Result<Vec<_>>>())
            .map_err(|e| io_error(dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = utf8(&path, &entry.file_name())?.to_owned();
            let key = match key {
                "" => name,
                _ => format!("{key}/{name}"),
            };
            let link = entry
                .file_type()
                .map_err(|e| io_error(&path, e))?
                .is_symlink();
            self.entry(&path, key, link)?;
        }
        self.above.pop();
        Ok(())
    }

    fn entry(&mut self, path: &Path, key: String, link: bool) -> Result<()> {
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if link && e.kind() == std::io::ErrorKind::NotFound => {
                warn(path, "dangling symlink");
                return Ok(());
            }
            Err(e) if link && e.raw_os_error() == Some(libc::ELOOP) => {
                warn(path, "symlink loop");
                return Ok(());
            }
            Err(e) => return Err(io_error(path, e)),
        };
        if meta.is_file() {
            self.found.push(Found {
                path: path.to_path_buf(),
                size: meta.len(),
                key,
            });
        } else if !meta.is_dir() {
            warn(path, "not a regular file or a directory");
        } else if link && !self.follow_symlinks {
            warn(path, "symlink to a directory (use --follow-symlinks)");
        } else if self.above.contains(&(meta.dev(), meta.ino())) {
            warn(
                path,
                "symlink loop (leads back to a directory being uploaded)",
            );
        } else {
            self.directory(path, &key, &meta)?;
        }
        Ok(())
    }
}
