//! The command line's grammar.

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  s3dlio ls s3://bucket/train/ -r --long
  s3dlio stat s3://bucket/train/x.bin --json
  s3dlio get s3://bucket/x.bin --offset 10 --length 100 > part.bin
  s3dlio download s3://bucket/train/ ./data -j 32
  s3dlio upload ./data s3://bucket/train/
  s3dlio cp file:///data/x.bin az://container/x.bin
  s3dlio rm s3://bucket/tmp/ -r --yes
  s3dlio stats ops.tsv ops.tsv.*
  s3dlio replay ops.tsv.zst --target file:///scratch/replay/ --speed 2

URIs: file:///abs/path, direct:///abs/path, s3://bucket/key, az://container/blob,
gs://bucket/object. Credentials and endpoints come from the standard AWS_*,
AZURE_STORAGE_*, GOOGLE_* variables (and S3DLIO_* for retries and timeouts).
Exit status: 0 success, 1 operation error, 2 usage error.";

/// Fast object storage transfers (file, direct, S3, Azure, GCS).
#[derive(Parser, Debug)]
#[command(name = "s3dlio", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Machine-readable JSON output (ls, stat, stats, replay).
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// S3 endpoint (same as AWS_ENDPOINT_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// S3 region (same as AWS_REGION).
    #[arg(long, global = true)]
    pub region: Option<String>,
}

/// A byte range of each object.
#[derive(Args, Debug, Clone, Copy)]
pub struct Range {
    /// First byte to read.
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// Bytes to read (default: to the end; a range past the end is cut at it).
    #[arg(long)]
    pub length: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List objects under a prefix.
    Ls {
        uri: String,
        /// Recurse into sub-prefixes.
        #[arg(short, long)]
        recursive: bool,
        /// Show size and modification time.
        #[arg(short, long)]
        long: bool,
    },
    /// Show one object's metadata.
    Stat { uri: String },
    /// Write an object (or a range of it) to stdout or a file.
    Get {
        uri: String,
        /// Output file (default: stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<String>,
        #[command(flatten)]
        range: Range,
    },
    /// Download objects or whole prefixes into a local directory.
    Download {
        /// Objects or prefixes, then the destination directory.
        #[arg(required = true, num_args = 2..)]
        paths: Vec<String>,
        #[command(flatten)]
        range: Range,
        /// Transfers in flight.
        #[arg(short = 'j', long, default_value_t = 16)]
        jobs: usize,
    },
    /// Upload local files or directories under a URI prefix. Symlinks to
    /// files are uploaded as the files; symlinks to directories are skipped
    /// unless --follow-symlinks; FIFOs, sockets, devices and dangling
    /// symlinks are skipped with a warning.
    Upload {
        /// Files or directories, then the destination prefix.
        #[arg(required = true, num_args = 2..)]
        paths: Vec<String>,
        /// Transfers in flight.
        #[arg(short = 'j', long, default_value_t = 16)]
        jobs: usize,
        /// Walk into symlinked directories too (a link back to a directory
        /// being walked is skipped with a warning).
        #[arg(long)]
        follow_symlinks: bool,
    },
    /// Copy one object between any two backends.
    Cp { src: String, dst: String },
    /// Delete an object, or everything under a prefix with -r.
    Rm {
        uri: String,
        /// Delete every object under the prefix.
        #[arg(short, long)]
        recursive: bool,
        /// Do not ask before a recursive delete.
        #[arg(short, long)]
        yes: bool,
    },
    /// Summarise op-logs (S3DLIO_OPLOG files, plain or .zst; many are
    /// merged): per operation requests, errors, bytes, GB/s over the
    /// span, latency and first-byte percentiles.
    Stats {
        #[arg(required = true, value_name = "LOG")]
        logs: Vec<String>,
    },
    /// The local cache of remote objects (S3DLIO_CACHE_DIR).
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Replay op-logs' requests against another store on the logged
    /// timeline: each logged URI moves from under the source prefix to
    /// under --target. GET reads, GET_RANGE reads the logged bytes from
    /// offset 0, PUT writes the logged bytes (a fixed pattern), HEAD
    /// stats, DELETE deletes, LIST lists; PUT_PART lines are skipped.
    Replay {
        #[arg(required = true, value_name = "LOG")]
        logs: Vec<String>,
        /// Where the logged objects go (a URI prefix).
        #[arg(long, value_name = "URI")]
        target: String,
        /// The logged prefix --target replaces (default: the longest
        /// prefix of the logged URIs, cut back to a '/').
        #[arg(long, value_name = "PREFIX")]
        source: Option<String>,
        /// Times the logged pace (2: twice as fast); 0 or max: as fast as
        /// possible.
        #[arg(long, default_value = "1", value_parser = crate::replay::parse_speed)]
        speed: crate::replay::Speed,
        /// Requests in flight at most.
        #[arg(short = 'j', long, default_value_t = 256)]
        jobs: usize,
    },
}

/// What `s3dlio cache` does with a cache directory.
#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// How many objects the cache holds, their bytes, and the oldest and
    /// newest last use.
    Stats {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
    /// Remove every cached object not being read now; only a directory
    /// s3dlio made (with its .s3dlio-cache marker) is touched.
    Clear {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}
