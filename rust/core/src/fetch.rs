//! The fetch engine: one object, a range of one, or many in parallel.

use std::collections::HashMap;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::exec::{self, Worker};
use crate::meta::ByteRange;
use crate::options::Options;
use crate::store::{LocalTarget, RemoteTarget, Resolver, Staged, Target, Whole};

/// The whole object at `uri`, in one aligned buffer.
pub async fn get(uri: &str, options: &Options) -> Result<Bytes> {
    Target::resolve_object(uri, options)?
        .get(ByteRange::FULL)
        .await
}

/// `length` bytes from `offset` (to the end when `None`); see
/// [`ByteRange`] for the behaviour at and past the end.
pub async fn get_range(
    uri: &str,
    offset: u64,
    length: Option<u64>,
    options: &Options,
) -> Result<Bytes> {
    Target::resolve_object(uri, options)?
        .get(ByteRange { offset, length })
        .await
}

/// `range` of the object at `uri` saved as the local file `dest` (a
/// `file://` or `direct://` URI) without holding the object in memory:
/// copied by the kernel from a local object, fetched in ranged parts, a
/// few at a time, from a remote one. The file is written under a
/// temporary name and renamed into place on success, so it appears whole
/// or not at all (also when the call is abandoned). Returns the bytes
/// written.
pub async fn get_to_file(
    uri: &str,
    range: ByteRange,
    dest: &str,
    options: &Options,
) -> Result<u64> {
    let mut resolver = Resolver::new(options);
    let source = resolver.resolve_object(uri)?;
    let local = resolver.resolve_object(dest)?.into_local()?;
    let staged = Staged::beside(dest, local.path())?;
    let written = source.write_to(range, staged.create()?).await?;
    staged.publish()?;
    Ok(written)
}

/// A local object (`file://`, `direct://`) read synchronously on the
/// calling thread, skipping the runtime: a single small `get` then costs
/// about what `open().read()` does. `None` when `uri` is remote, or on a
/// network filesystem whose stall would make the call uninterruptible
/// (use [`get`]/[`get_range`] then); errors are the same as theirs.
pub fn get_local_now(uri: &str, range: ByteRange, options: &Options) -> Option<Result<Bytes>> {
    if !(uri.starts_with("file://") || uri.starts_with("direct://")) {
        return None;
    }
    match Target::resolve_object(uri, options) {
        Ok(Target::Local(local)) if local.may_stall() => None,
        Ok(Target::Local(local)) => Some(local.get(range, &Worker::alone())),
        Ok(Target::Remote(_)) => None,
        Err(e) => Some(Err(e)),
    }
}

/// Check a concurrency bound given by a caller.
pub(crate) fn check_in_flight(max_in_flight: usize) -> Result<usize> {
    if max_in_flight == 0 {
        return Err(Error::InvalidArgument(
            "max_in_flight must be at least 1".to_owned(),
        ));
    }
    Ok(max_in_flight)
}

/// Fetch every URI with at most `max_in_flight` requests at once and return
/// the payloads in input order. URIs may mix schemes; a URI given several
/// times is fetched once and shared at every position. Work is O(n): the
/// order is restored by index, never by sorting. Every URI is parsed before
/// any I/O starts; the first failure cancels the rest and is returned.
/// Large remote objects are split into ranged requests only when there are
/// fewer remote objects than `max_in_flight`.
pub async fn get_many<S: AsRef<str>>(
    uris: &[S],
    max_in_flight: usize,
    options: &Options,
) -> Result<Vec<Bytes>> {
    let requests: Vec<(&str, ByteRange)> =
        uris.iter().map(|u| (u.as_ref(), ByteRange::FULL)).collect();
    get_ranges(&requests, max_in_flight, options).await
}

/// [`get_many`] of byte ranges: each `(uri, range)` is read as
/// [`get_range`] reads it, all of them with at most `max_in_flight`
/// requests at once, in input order. Ranges may come from any objects of
/// any schemes, many from one object; a `(uri, range)` given several times
/// is read once and shared at every position. Each URI is parsed once,
/// before any I/O starts; the first failure cancels the rest.
pub async fn get_ranges<S: AsRef<str>>(
    requests: &[(S, ByteRange)],
    max_in_flight: usize,
    options: &Options,
) -> Result<Vec<Bytes>> {
    let max_in_flight = check_in_flight(max_in_flight)?;
    let mut position_of: HashMap<(&str, ByteRange), usize> = HashMap::with_capacity(requests.len());
    let mut resolved: HashMap<&str, Target> = HashMap::new();
    let mut slots = Vec::with_capacity(requests.len());
    let mut jobs = Vec::new();
    let mut resolver = Resolver::new(options);
    for (uri, range) in requests {
        let uri = uri.as_ref();
        let next = jobs.len();
        let slot = *position_of.entry((uri, *range)).or_insert(next);
        if slot == next {
            let target = match resolved.get(uri) {
                Some(target) => target.clone(),
                None => {
                    let target = resolver.resolve_object(uri)?;
                    resolved.insert(uri, target.clone());
                    target
                }
            };
            jobs.push(((slot, *range), target));
        }
        slots.push(slot);
    }
    drop(resolved);
    let mut fetched: Vec<Option<Bytes>> = vec![None; jobs.len()];
    let (local, remote) = split_by_kind(jobs);
    let (hits, remote) = cached_first(remote, max_in_flight, |(slot, range), t, worker| {
        Ok(match t.cached_now(range, worker) {
            Some(read) => Ok((slot, read?)),
            None => Err((slot, range)),
        })
    })
    .await?;
    for (slot, bytes) in hits {
        fetched[slot] = Some(bytes);
    }
    // Split large remote reads into ranged requests only when the batch
    // leaves request slots free (as file:// splits only onto spare cores).
    let whole = match remote.len() < max_in_flight {
        true => Whole::InParts,
        false => Whole::InOne,
    };
    // Local objects: a few blocking workers each read object after object
    // (no task per object); remote ones: one task each, bounded.
    let direct = local.iter().any(|(_, t)| t.direct);
    let read = exec::run_split(
        local,
        direct,
        remote,
        max_in_flight,
        |((slot, range), target), worker| Ok((slot, target.get(range, worker)?)),
        move |((slot, range), target)| async move { Ok((slot, target.get(range, whole).await?)) },
    )
    .await?;
    for (slot, bytes) in read {
        fetched[slot] = Some(bytes);
    }
    Ok(slots
        .into_iter()
        .map(|slot| {
            fetched[slot]
                .clone()
                .expect("every unique request was read")
        })
        .collect())
}

/// The remote jobs whose objects the local cache can serve with no request,
/// done first by `read` on blocking workers, object after object, as
/// `file://` objects are read (no task per object: a batch of hits runs at
/// the speed of local reads). Returns what they gave and the jobs left to
/// fetch: the others, and those `read` handed back (a miss, or a copy only
/// a HEAD can check).
pub(crate) async fn cached_first<K, T, F>(
    remote: Vec<(K, RemoteTarget)>,
    max_in_flight: usize,
    read: F,
) -> Result<(Vec<T>, Vec<(K, RemoteTarget)>)>
where
    K: Send + 'static,
    T: Send + 'static,
    F: Fn(K, &RemoteTarget, &Worker) -> Result<std::result::Result<T, K>> + Send + Sync + 'static,
{
    if !remote.iter().any(|(_, t)| t.has_cache()) {
        return Ok((Vec::new(), remote));
    }
    let (cached, mut rest): (Vec<_>, Vec<_>) = remote.into_iter().partition(|(_, t)| t.has_cache());
    let depth = exec::depth_for(false, cached.len(), max_in_flight);
    let outcomes = exec::run(cached, depth, move |(key, target), worker| {
        Ok(match read(key, &target, worker)? {
            Ok(done) => Ok(done),
            Err(key) => Err((key, target)),
        })
    })
    .await?;
    let mut done = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match outcome {
            Ok(d) => done.push(d),
            Err(job) => rest.push(job),
        }
    }
    Ok((done, rest))
}

/// Jobs on local targets, and jobs on remote ones.
pub(crate) type ByKind<T> = (Vec<(T, LocalTarget)>, Vec<(T, RemoteTarget)>);

/// `targets`, each with its job, local ones apart from remote ones.
pub(crate) fn split_by_kind<T>(targets: impl IntoIterator<Item = (T, Target)>) -> ByKind<T> {
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for (key, target) in targets {
        match target {
            Target::Local(t) => local.push((key, t)),
            Target::Remote(t) => remote.push((key, t)),
        }
    }
    (local, remote)
}
