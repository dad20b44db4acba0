//! `kzrescue export <targets…> DATASET[@SNAP][:/path] --to DIR | --tar FILE`:
//! copies files out of a dataset or snapshot offline, with modes, owners
//! (when run as root), times and symlinks; a progress bar on stderr. The
//! copy is confined to the destination (see `kzrescue::export` and
//! SECURITY.md): hostile names are refused (or escaped with
//! `--escape-names`), duplicates are not written over, symlinks are never
//! followed.

use super::datasets::{PoolArgs, open_fs, split_spec};
use indicatif::{ProgressBar, ProgressStyle};
use kzrescue::export::{self, Names, Options};
use kzrescue::zfs::walk::{Node, walk};
use kzrescue::zfs::zpl::{FileType, Zpl};
use kzrescue::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `kzrescue export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The pool's devices, then `DATASET[@SNAP][:/path]`.
    #[arg(required = true, num_args = 2.., value_name = "TARGET… SPEC")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Write the files under this directory (created if missing; must be empty).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "tar",
        required_unless_present = "tar"
    )]
    pub to: Option<PathBuf>,
    /// Write a tar archive instead (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub tar: Option<PathBuf>,
    /// Write names no directory can hold (empty, `.`, `..`, with `/` or NUL)
    /// in an escaped form (`/` → %2F, NUL → %00, `%` → %25, dots → %2E,
    /// empty → %) and report each, instead of refusing them.
    #[arg(long)]
    pub escape_names: bool,
    /// Leave out of a tar archive the contents of files claiming more than
    /// this many bytes (suffixes K, M, G, T; `--to` writes them sparse).
    #[arg(long, value_name = "BYTES", default_value = "64G",
          value_parser = super::bounds::parse_size)]
    pub max_file_size: u64,
    /// Export object N instead of a path (a file lands as `object-N`): a
    /// deleted file of an older state (`--txg`, `@SNAP`), or an orphan.
    #[arg(long, value_name = "N")]
    pub object: Option<u64>,
}

fn collect(fs: &Zpl, start: u64, errors: &mut Vec<String>) -> Vec<Node> {
    let mut nodes = Vec::new();
    walk(
        fs,
        start,
        b"/",
        |n| nodes.push(n),
        |p, e| errors.push(format!("{}: {e}", String::from_utf8_lossy(&p))),
    );
    nodes
}

/// Bytes of the regular files among `nodes`, each file object once.
fn file_bytes(nodes: &[Node]) -> u64 {
    let mut seen = std::collections::HashSet::new();
    nodes
        .iter()
        .filter(|n| n.znode.file_type() == FileType::File && seen.insert(n.znode.object))
        .map(|n| n.znode.size)
        .fold(0u64, u64::saturating_add)
}

fn bar(total: u64) -> ProgressBar {
    let b = ProgressBar::new(total);
    b.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

/// Whether this process may give files away (chown).
fn am_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// Runs the subcommand.
pub fn run(args: &ExportArgs) -> Result<u8> {
    let (targets, spec) = super::ls::targets_and_spec(&args.args);
    let (ds, path) = split_spec(spec);
    let o = args.pool.open(targets)?;
    let fs = open_fs(&o, &ds)?;
    let warned = super::datasets::warn_fs(&fs);
    let start = match args.object {
        Some(n) => n,
        None => fs.lookup(&path)?,
    };
    let mut errors = Vec::new();
    let nodes = collect(&fs, start, &mut errors);
    let opts = Options {
        names: if args.escape_names {
            Names::Escape
        } else {
            Names::Refuse
        },
        owners: am_root(),
        max_file_size: args.max_file_size,
    };
    // a single file exported by its own name
    let root_name: Vec<u8> = path
        .rsplit('/')
        .find(|c| !c.is_empty())
        .map(|c| c.as_bytes().to_vec())
        .filter(|c| export::name_problem(c).is_none())
        .unwrap_or_else(|| b"file".to_vec());
    let root_name = match args.object {
        Some(n) => format!("object-{n}").into_bytes(),
        None => root_name,
    };
    let pb = bar(file_bytes(&nodes));
    let progress = |n: u64| pb.inc(n);
    let rep = if let Some(dir) = &args.to {
        export::to_dir(&fs, &nodes, dir, &root_name, &opts, &progress)?
    } else if let Some(tarpath) = &args.tar {
        let mut out: Box<dyn Write> = if tarpath.as_os_str() == "-" {
            Box::new(std::io::BufWriter::new(std::io::stdout()))
        } else {
            Box::new(std::io::BufWriter::new(File::create(tarpath).map_err(
                |e| Error::io(format!("create {}", tarpath.display()), e),
            )?))
        };
        export::to_tar(&fs, &nodes, &mut out, &root_name, &opts, &progress)?
    } else {
        return Err(Error::Usage("export needs --to DIR or --tar FILE".into()));
    };
    pb.finish_and_clear();
    errors.extend(rep.problems);
    for e in &errors {
        eprintln!("kzrescue: {e}");
    }
    let unverified = fs
        .pool
        .stats
        .unverified
        .load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "kzrescue: exported {} paths, {} problems{}",
        rep.written,
        errors.len(),
        if unverified > 0 {
            format!(
                ", {unverified} blocks read unverified (a checksum kzrescue does not compute, or none)"
            )
        } else {
            String::new()
        }
    );
    Ok(if errors.is_empty() && !warned {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    })
}
