//! `kzrescue manifest <targets…> DATASET[@SNAP] [-r] [--against @SNAP]` and
//! `kzrescue manifest diff BASE NOW`: integrity manifests of file systems
//! (every path with type, mode, owner, size, mtime and SHA-256), built and
//! compared by `kzrescue::manifest`; this file parses and prints.

use super::datasets::{PoolArgs, notice};
use indicatif::{ProgressBar, ProgressStyle};
use kzrescue::manifest::build::Options;
use kzrescue::manifest::diff::{Diff, stream_files};
use kzrescue::manifest::run::{Scope, Streamed, baseline, compare};
use kzrescue::read::split_targets;
use kzrescue::{Error, Result};
use serde::Serialize;

/// Arguments of `kzrescue manifest`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Also: kzrescue manifest diff BASE.json NOW.json")]
pub struct ManifestArgs {
    /// The pool's devices (image files, block devices or storage URIs), then DATASET[@SNAP] (or: `diff BASE NOW`).
    #[arg(required = true, num_args = 2.., value_name = "TARGET… DATASET")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// The dataset and every file system below it, in one manifest (with
    /// @SNAP: each one's snapshot of that name).
    #[arg(short, long)]
    pub recursive: bool,
    /// Compare snapshot @SNAP (the baseline) against DATASET and print the diff.
    #[arg(long, value_name = "@SNAP")]
    pub against: Option<String>,
    /// Do not hash files claiming more than this many bytes (suffixes K, M,
    /// G, T, P, E): such a file gets an `error` and no `sha256`.
    #[arg(long, value_name = "BYTES", default_value = "64G",
          value_parser = super::bounds::parse_size)]
    pub max_file_size: u64,
    /// Reading threads, and as many hashing ones (default: all cores; at
    /// most 256, more are lowered).
    #[arg(long, value_name = "N", value_parser = super::bounds::parse_jobs)]
    pub jobs: Option<usize>,
}

/// One progress line for the whole run: bytes hashed and the rate.
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bytes} hashed, {bytes_per_sec}, {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}

/// Prints a document that carries its own `schema` (a manifest is
/// streamed as it is built; integers as strings unless `--json-int`).
fn print_json<T: Serialize>(v: &T) -> Result<()> {
    super::out::stream_json(v)
}

fn diff_exit(d: &Diff) -> u8 {
    if d.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    }
}

/// Runs the subcommand.
pub fn run(args: &ManifestArgs) -> Result<u8> {
    if args.args.first().map(String::as_str) == Some("diff") {
        let [_, base, now] = args.args.as_slice() else {
            return Err(Error::Usage(
                "usage: kzrescue manifest diff BASE.json NOW.json".into(),
            ));
        };
        let d = stream_files(base.as_ref(), now.as_ref())?;
        print_json(&d)?;
        return Ok(diff_exit(&d));
    }
    let (targets, ds) = split_targets(&args.args);
    let o = args.pool.open(targets)?;
    let jobs = args.jobs.map(|j| {
        let (n, lowered) = super::bounds::clamp_jobs(j);
        if lowered {
            eprintln!("kzrescue: note: --jobs {j} lowered to {n}");
        }
        n
    });
    let opts = Options::new(args.max_file_size, jobs);
    let bar = progress_bar();
    let scope = Scope {
        opened: &o,
        recursive: args.recursive,
        opts: &opts,
        progress: &|n| bar.inc(n),
    };
    if let Some(snap) = &args.against {
        let c = compare(&scope, &baseline(ds, snap), ds, &mut notice);
        bar.finish_and_clear();
        let c = c?;
        c.notices().into_iter().for_each(notice);
        print_json(&c.diff)?;
        return Ok(diff_exit(&c.diff));
    }
    let doc = Streamed::new(scope, ds, &mut notice)?;
    let printed = print_json(&doc);
    bar.finish_and_clear();
    let summary = doc.finish(printed)?;
    summary.notices(ds).into_iter().for_each(notice);
    Ok(if summary.errors.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    })
}
