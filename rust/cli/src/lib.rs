//! The `s3dlio` command line: ls, stat, get, download, upload, cp, rm,
//! and stats / replay of op-logs.
//! A library (the Python package's `s3dlio` command calls [`run`]) and a
//! standalone binary.

mod args;
mod cache;
mod oplog_read;
mod output;
mod replay;
mod signals;
mod stats;
mod transfer;
mod walk;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};

use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use s3dlio_core::runtime::block_on;
use s3dlio_core::{Error, ObjectMeta, Options, Result};

use args::{Cli, Command};

/// Exit status of a failed operation.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status of a usage error.
pub const EXIT_USAGE: i32 = 2;
/// Exit status after Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit status after a caught signal is 128 + its number (SIGTERM: 143).
const EXIT_SIGNALLED: i32 = 128;

/// Run the command line with `argv` (program name first); returns the exit status.
pub fn run<I, T>(argv: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    if let Err(e) = s3dlio_core::check_env() {
        eprintln!("s3dlio: error: {}", e.full_message());
        return EXIT_USAGE;
    }
    let mut options = Options::from_env();
    if let Some(url) = &cli.global.endpoint_url {
        options.extend([("AWS_ENDPOINT_URL", url.clone())]);
    }
    if let Some(region) = &cli.global.region {
        options.extend([("AWS_REGION", region.clone())]);
    }
    let termination = signals::Termination::catch();
    let outcome = block_on(async {
        tokio::select! {
            result = execute(&cli, &options) => Ok(result),
            _ = tokio::signal::ctrl_c() => Err(None),
            signal = termination.received() => Err(Some(signal)),
        }
    });
    drop(termination);
    match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("s3dlio: error: {}", e.full_message());
            EXIT_FAILURE
        }
        Err(None) => {
            eprintln!("s3dlio: interrupted");
            EXIT_INTERRUPTED
        }
        Err(Some(signal)) => {
            eprintln!("s3dlio: terminated by signal {signal}");
            EXIT_SIGNALLED + signal
        }
    }
}

fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

async fn execute(cli: &Cli, options: &Options) -> Result<()> {
    let quiet = cli.global.quiet;
    match &cli.command {
        Command::Ls {
            uri,
            recursive,
            long,
        } => {
            let metas = listing(uri, *recursive, options).await?;
            if cli.global.json {
                print_json(&metas.iter().map(output::meta_json).collect());
            } else {
                let mut out = std::io::stdout().lock();
                for m in &metas {
                    let line = if *long {
                        output::meta_line(m)
                    } else {
                        m.uri.clone()
                    };
                    let _ = writeln!(out, "{line}");
                }
            }
            Ok(())
        }
        Command::Stat { uri } => {
            let meta = s3dlio_core::stat(uri, options).await?;
            if cli.global.json {
                print_json(&output::meta_json(&meta));
            } else {
                println!("{}", output::meta_line(&meta));
            }
            Ok(())
        }
        Command::Get { uri, output, range } => {
            transfer::get(uri, output.as_deref(), *range, options).await
        }
        Command::Download { paths, range, jobs } => {
            transfer::download(paths, *range, *jobs, quiet, options).await
        }
        Command::Upload {
            paths,
            jobs,
            follow_symlinks,
        } => transfer::upload(paths, *jobs, *follow_symlinks, quiet, options).await,
        Command::Cp { src, dst } => transfer::cp(src, dst, quiet, options).await,
        Command::Rm {
            uri,
            recursive,
            yes,
        } => remove(uri, *recursive, *yes, options).await,
        Command::Stats { logs } => {
            let records = oplog_read::read_logs(logs)?;
            if cli.global.json {
                print_json(&stats::json(&records, logs));
            } else {
                print!("{}", stats::table(&records));
            }
            Ok(())
        }
        Command::Cache { action } => cache::run(action, cli.global.json),
        Command::Replay {
            logs,
            target,
            source,
            speed,
            jobs,
        } => {
            let records = oplog_read::read_logs(logs)?;
            let source = source
                .clone()
                .unwrap_or_else(|| replay::common_prefix(records.iter().map(|r| r.file.as_str())));
            let outcome =
                replay::replay(&records, &source, target, *speed, *jobs, quiet, options).await?;
            for e in &outcome.first_errors {
                eprintln!("s3dlio: replay: {e}");
            }
            if outcome.new_errors > outcome.first_errors.len() {
                let more = outcome.new_errors - outcome.first_errors.len();
                eprintln!("s3dlio: replay: ... and {more} more errors");
            }
            if cli.global.json {
                print_json(&outcome.json(&source, target));
            } else {
                println!("{}", outcome.line());
            }
            if outcome.new_errors > 0 {
                return Err(Error::InvalidArgument(format!(
                    "replay: {} of {} requests failed against {target}",
                    outcome.new_errors, outcome.requests
                )));
            }
            Ok(())
        }
    }
}

/// The objects `ls URI` shows: those under the prefix, or, when there are
/// none, the one object the URI names (if it names one).
async fn listing(uri: &str, recursive: bool, options: &Options) -> Result<Vec<ObjectMeta>> {
    let metas = s3dlio_core::list_meta(uri, recursive, options).await?;
    if !metas.is_empty() {
        return Ok(metas);
    }
    Ok(named_object(uri, options).await?.into_iter().collect())
}

/// The object `uri` names, if it names one that exists (a prefix such as
/// `s3://b/p/` names none).
async fn named_object(uri: &str, options: &Options) -> Result<Option<ObjectMeta>> {
    match s3dlio_core::stat(uri, options).await {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.is_not_found() || matches!(e, Error::InvalidUri { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `rm URI [-r]`: one object, or every object under a prefix (and the
/// object the URI names, if any). A recursive delete from a terminal
/// needs `--yes` (it asks otherwise); one that matches nothing fails.
async fn remove(uri: &str, recursive: bool, yes: bool, options: &Options) -> Result<()> {
    if !recursive {
        return s3dlio_core::delete(uri, options).await;
    }
    let mut uris = s3dlio_core::list(uri, true, options).await?;
    uris.extend(named_object(uri, options).await?.map(|meta| meta.uri));
    if uris.is_empty() {
        return Err(Error::NotFound {
            uri: uri.to_owned(),
            source: None,
        });
    }
    if !yes && std::io::stdin().is_terminal() {
        eprint!("s3dlio: delete {} objects under {uri}? [y/N] ", uris.len());
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Error::InvalidArgument(format!(
                "rm -r {uri}: not confirmed"
            )));
        }
    }
    futures::stream::iter(uris.iter().map(|u| s3dlio_core::delete(u, options)))
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}
