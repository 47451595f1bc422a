//! The operation log: one line per request in the 13-column TSV that MinIO
//! warp and the original s3dlio write (`idx thread op client_id n_objects
//! bytes endpoint file error start first_byte end duration_ns`), zstd-
//! compressed when the file name ends in `.zst`.
//!
//! A line is one operation on one object as the caller asked for it: a
//! large GET fetched as parallel ranged parts is one `GET` line (its
//! parts' retries counted in it); a multipart upload is one `PUT` line of
//! the whole size and, inside it, one `PUT_PART` line per part (so summing
//! `bytes` over both counts an upload twice). `first_byte` is when the
//! response head arrived (empty for local files); `endpoint` the server's
//! `scheme://host:port` as requested, `scheme://bucket` when no request
//! reached the HTTP client, `file://` or `direct://` for local files.
//!
//! Off, it costs a request one relaxed atomic load. On, a request's line
//! goes into a bounded queue with `try_send`: a full queue drops the line
//! and counts it, it never blocks I/O. A thread of its own ([`writer`])
//! formats and writes the lines; [`stop`] (and the process's normal exit)
//! drains the queue and closes the file. On a hard kill, lines still in
//! the queue or not yet flushed (the writer flushes when idle for 200 ms)
//! are lost; a `.zst` file then lacks its end, and streaming decoders
//! read what was flushed.
//!
//! Which file: started by [`start`] or from `S3DLIO_OPLOG` (read once, when
//! the binding loads or at the first request), a log belongs to the process
//! that started it, which writes `PATH`; any other process writes
//! `PATH.<pid>`. A forked child (a DataLoader worker) opens its file at its
//! first request; a spawned one inherits `S3DLIO_OPLOG` and
//! `S3DLIO_OPLOG_OWNER` (the owner's pid, set by the owner) through the
//! environment. `S3DLIO_OPLOG_QUEUE` sets the queue's length in lines
//! (default 65536).

mod writer;

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Once, RwLock};

use crate::env;
use crate::error::{Error, Result};
use crate::process::{per_process, process_id, Stamped};

/// The variable naming the log file.
pub const OPLOG_ENV: &str = "S3DLIO_OPLOG";
/// The pid of the process whose log is `S3DLIO_OPLOG` itself.
pub const OWNER_ENV: &str = "S3DLIO_OPLOG_OWNER";
/// The queue's length in lines.
pub const QUEUE_ENV: &str = "S3DLIO_OPLOG_QUEUE";
const DEFAULT_QUEUE: usize = 65536;

pub(crate) use writer::Line;

const UNCHECKED: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNCHECKED);

/// Whether requests are logged (checking `S3DLIO_OPLOG` the first time).
pub(crate) fn on() -> bool {
    match STATE.load(Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            init_from_env();
            STATE.load(Relaxed) == ON
        }
    }
}

/// Where logs go: the path, the process writing it itself, the queue.
struct Config {
    base: String,
    owner: u32,
    queue: usize,
}

/// The current configuration, leaked (never freed, so a forked child
/// reads it without a lock).
static CONFIG: AtomicPtr<Config> = AtomicPtr::new(std::ptr::null_mut());

fn config() -> Option<&'static Config> {
    // SAFETY: published configurations are leaked, never freed.
    unsafe { CONFIG.load(std::sync::atomic::Ordering::Acquire).as_ref() }
}

/// The queue's length from `S3DLIO_OPLOG_QUEUE`.
fn queue_len() -> usize {
    env::var(QUEUE_ENV)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_QUEUE)
}

fn configure(base: &str, owner: u32, queue: usize) {
    let config = Box::new(Config {
        base: base.to_owned(),
        owner,
        queue,
    });
    CONFIG.store(Box::into_raw(config), std::sync::atomic::Ordering::Release);
}

/// Read `S3DLIO_OPLOG` (once per process tree: a forked child keeps its
/// parent's answer). The first process to read it owns `PATH` and says so
/// in `S3DLIO_OPLOG_OWNER` for the processes it spawns.
pub fn init_from_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let base = env::var(OPLOG_ENV).unwrap_or_default();
        if base.trim().is_empty() {
            let _ = STATE.compare_exchange(UNCHECKED, OFF, Relaxed, Relaxed);
            return;
        }
        let pid = process_id();
        let owner = match env::var(OWNER_ENV).and_then(|v| v.parse().ok()) {
            Some(owner) => owner,
            None => {
                env::guarded(|| std::env::set_var(OWNER_ENV, pid.to_string()));
                pid
            }
        };
        configure(&base, owner, queue_len());
        register_exit();
        let _ = STATE.compare_exchange(UNCHECKED, ON, Relaxed, Relaxed);
    });
}

/// One log being written by this process.
struct Session {
    path: String,
    queue: Option<writer::Queue>,
    queued: AtomicU64,
    dropped: AtomicU64,
    error: Option<String>,
}

/// What a log has written (see [`stats`]).
#[derive(Clone, Debug, Default)]
pub struct OplogStats {
    /// The file.
    pub path: String,
    /// Lines accepted for writing (all written once [`stop`] returns).
    pub lines: u64,
    /// Lines dropped because the queue was full (or the file failed).
    pub dropped: u64,
    /// Whether the log is still being written.
    pub active: bool,
    /// Why the file could not be opened or written, if it could not.
    pub error: Option<String>,
}

impl Session {
    fn stats(&self, active: bool) -> OplogStats {
        OplogStats {
            path: self.path.clone(),
            lines: self.queued.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            active,
            error: self
                .error
                .clone()
                .or_else(|| self.queue.as_ref().and_then(|q| q.error())),
        }
    }
}

/// This process's log, and what the last one wrote.
#[derive(Default)]
struct Logs {
    current: Option<Arc<Session>>,
    last: Option<OplogStats>,
}

static LOGS: AtomicPtr<Stamped<RwLock<Logs>>> = AtomicPtr::new(std::ptr::null_mut());

/// This process's logs (a forked child gets its own, empty).
fn logs() -> &'static RwLock<Logs> {
    per_process(&LOGS, RwLock::default, drop)
}

/// A small number for the calling thread, the log's `thread` column.
fn thread_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    thread_local! {
        static ID: u32 = NEXT.fetch_add(1, Relaxed);
    }
    ID.with(|id| *id)
}

/// Queue `line` for this process's log, opening the log first if this
/// process has none yet (a forked or spawned child).
pub(crate) fn submit(line: Line) {
    let thread = thread_id();
    let current = logs()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .current
        .clone();
    let Some(session) = current.or_else(open_here) else {
        return;
    };
    match &session.queue {
        Some(queue) if queue.try_send(thread, line) => session.queued.fetch_add(1, Relaxed),
        _ => session.dropped.fetch_add(1, Relaxed),
    };
}

/// The file this process writes for a log at `base` owned by `owner`.
fn path_for(config: &Config) -> String {
    let pid = process_id();
    match config.owner == pid {
        true => config.base.clone(),
        false => format!("{}.{pid}", config.base),
    }
}

/// Open this process's log where the configuration says (lazily: the
/// first request of a child process).
fn open_here() -> Option<Arc<Session>> {
    let config = config()?;
    let mut logs = logs().write().unwrap_or_else(|e| e.into_inner());
    if let Some(session) = &logs.current {
        return Some(session.clone());
    }
    if STATE.load(Relaxed) != ON {
        return None;
    }
    let path = path_for(config);
    let session = Arc::new(match writer::Queue::open(&path, config.queue) {
        Ok(queue) => Session::new(path, Some(queue), None),
        Err(e) => Session::new(path, None, Some(e.to_string())),
    });
    logs.current = Some(session.clone());
    Some(session)
}

impl Session {
    fn new(path: String, queue: Option<writer::Queue>, error: Option<String>) -> Self {
        Self {
            path,
            queue,
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            error,
        }
    }
}

/// Start logging every request of this process to `path` (and of its
/// children to `path.<pid>`), ending any log under way. A file that cannot
/// be created is an error naming it.
pub fn start(path: &str) -> Result<()> {
    init_from_env();
    stop();
    let len = queue_len();
    let queue = writer::Queue::open(path, len).map_err(|e| Error::Io {
        uri: path.to_owned(),
        source: e,
    })?;
    let pid = process_id();
    configure(path, pid, len);
    env::guarded(|| {
        std::env::set_var(OPLOG_ENV, path);
        std::env::set_var(OWNER_ENV, pid.to_string());
    });
    register_exit();
    let mut logs = logs().write().unwrap_or_else(|e| e.into_inner());
    logs.current = Some(Arc::new(Session::new(path.to_owned(), Some(queue), None)));
    STATE.store(ON, Relaxed);
    Ok(())
}

/// Stop logging: every line accepted so far is written and the file
/// closed (a `.zst` one finished). Children started afterwards log
/// nothing. Returns what the log wrote; `None` if there was none.
pub fn stop() -> Option<OplogStats> {
    STATE.store(OFF, Relaxed);
    env::guarded(|| {
        if std::env::var_os(OPLOG_ENV).is_some() {
            std::env::remove_var(OPLOG_ENV);
            std::env::remove_var(OWNER_ENV);
        }
    });
    finish()
}

/// Write what is queued and close the file (the environment untouched:
/// also at exit, when no embedding's guard can run).
fn finish() -> Option<OplogStats> {
    STATE.store(OFF, Relaxed);
    let session = {
        let mut logs = logs().write().unwrap_or_else(|e| e.into_inner());
        logs.current.take()
    }?;
    if let Some(queue) = &session.queue {
        queue.finish();
    }
    let stats = session.stats(false);
    logs().write().unwrap_or_else(|e| e.into_inner()).last = Some(stats.clone());
    Some(stats)
}

/// What this process's log (or its last one) has written; `None` if it
/// has had none.
pub fn stats() -> Option<OplogStats> {
    let logs = logs().read().unwrap_or_else(|e| e.into_inner());
    match &logs.current {
        Some(session) => Some(session.stats(true)),
        None => logs.last.clone(),
    }
}

/// Finish the log when the process exits normally (`exit()`, the end of
/// `main`); a process ended by `_exit()` or a signal does not run it.
fn register_exit() {
    static ONCE: Once = Once::new();
    extern "C" fn at_exit() {
        let _ = std::panic::catch_unwind(finish);
    }
    // SAFETY: registers a plain function with no arguments.
    ONCE.call_once(|| unsafe {
        libc::atexit(at_exit);
    });
}
