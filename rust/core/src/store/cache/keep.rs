//! How a fetched object becomes its entry: written to its `.part` and
//! renamed, within the budget, or read through (uncached) when it cannot
//! be kept, said once on stderr.

use std::sync::atomic::Ordering;

use super::entry::{self, Stored};
use super::part::Part;
use super::{open_entry, CacheUse, Open, Origin};
use crate::error::Result;
use crate::meta::ObjectMeta;
use crate::metrics::cache as counted;
use crate::runtime;

impl CacheUse {
    /// Say once per cache, on stderr, why objects are read through.
    fn warn(&self, large: bool, message: impl FnOnce() -> String) {
        let flag = match large {
            true => &self.cache.warned_large,
            false => &self.cache.warned_failing,
        };
        if !flag.swap(true, Ordering::Relaxed) {
            eprintln!(
                "s3dlio: cache {}: {}",
                self.cache.space.dir.display(),
                message()
            );
        }
    }

    /// Room for an entry of `len` bytes: false (read through) when over
    /// the whole budget, said once, or when everything left is in use.
    fn room_for(&self, uri: &str, len: u64) -> bool {
        let budget = self.cache.space.budget;
        if len > budget {
            self.warn(true, || {
                format!(
                    "{uri} ({len} bytes cached) is larger than the whole budget of {budget} \
                     bytes; objects that large are read through, uncached"
                )
            });
            return false;
        }
        self.cache.space.make_room(len)
    }

    /// Keep `data`, version `meta` of `uri`, as its entry, through `part`
    /// (call it on a blocking thread); any failure leaves it uncached, said
    /// once.
    pub(super) fn keep(&self, uri: &str, data: &[u8], meta: &ObjectMeta, part: Option<Part>) {
        let trailer = Stored::of(uri, meta).trailer();
        let len = data.len() as u64 + trailer.len() as u64;
        if !self.room_for(uri, len) {
            counted::read_through();
            return;
        }
        let Some(part) = part else {
            let refused = Err(std::io::Error::other("no .part file could be made"));
            return self.kept(uri, refused, len, None);
        };
        let old = std::fs::metadata(self.path_of(uri)).map(|m| m.len()).ok();
        let written = part
            .fresh()
            .and_then(|file| entry::write(file, data, &trailer))
            .and_then(|()| part.publish());
        self.kept(uri, written, len, old);
    }

    /// Count an entry of `len` bytes renamed over `old` (or not, `written`
    /// says why).
    fn kept(&self, uri: &str, written: std::io::Result<()>, len: u64, old: Option<u64>) {
        match written {
            Ok(()) => {
                self.cache.space.add(len);
                if let Some(old) = old {
                    self.cache.space.forget(old);
                }
                counted::written(len);
            }
            Err(e) => {
                counted::read_through();
                self.warn(false, || {
                    format!("could not keep {uri} ({e}); objects are read through, uncached")
                });
            }
        }
    }

    /// The whole object downloaded to its entry through `part`; `None`
    /// when it cannot be kept (over the budget, a failing disk: said once).
    pub(super) async fn download(
        &self,
        origin: &impl Origin,
        part: Option<Part>,
    ) -> Result<Option<Open>> {
        let uri = origin.uri().to_owned();
        let version = origin.head().await?;
        let trailer = Stored::of(&uri, &version).trailer();
        let len = version.size + trailer.len() as u64;
        let path = self.path_of(&uri);
        let this = self.clone();
        let ready = runtime::blocking(move || {
            if !this.room_for(&uri, len) {
                counted::read_through();
                return None;
            }
            let file = part
                .ok_or_else(|| std::io::Error::other("no .part file could be made"))
                .and_then(|part| Ok((part.fresh()?.try_clone()?, part)));
            match file {
                Ok(ready) => Some(ready),
                Err(e) => {
                    this.kept(&uri, Err(e), len, None);
                    None
                }
            }
        })
        .await;
        let Some((file, part)) = ready else {
            return Ok(None);
        };
        let uri = origin.uri().to_owned();
        let downloaded = origin.download(&version, file).await;
        let this = self.clone();
        Ok(runtime::blocking(move || {
            let old = std::fs::metadata(&path).map(|m| m.len()).ok();
            let written = (move || {
                let n = downloaded.map_err(|e| std::io::Error::other(e.to_string()))?;
                if n != version.size {
                    return Err(std::io::Error::other("the download came short"));
                }
                part.write_at(&trailer, n)?;
                part.publish()
            })();
            let ok = written.is_ok();
            this.kept(&uri, written, len, old);
            ok.then(|| open_entry(&path, &uri)).flatten()
        })
        .await)
    }
}
