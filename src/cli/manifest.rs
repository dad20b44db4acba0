//! `kzrescue manifest <targets…> DATASET[@SNAP] [-r] [--against @SNAP]` and
//! `kzrescue manifest diff BASE NOW`: integrity manifests of file systems
//! (every path with type, mode, owner, size, mtime and SHA-256), built and
//! compared by `kzrescue::manifest`; this file parses and prints.

use super::datasets::{PoolArgs, open_fs};
use indicatif::{ProgressBar, ProgressStyle};
use kzrescue::manifest::build::{Options, Summary, stream};
use kzrescue::manifest::diff::{Diff, diff, merge, stream_files};
use kzrescue::manifest::{
    BlockCounts, Entry, Manifest, SCHEMA, descendants, path_order, relative_dataset,
};
use kzrescue::zfs::spa::Opened;
use kzrescue::{Error, Result};
use serde::ser::{Error as _, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use std::cell::RefCell;

/// Arguments of `kzrescue manifest`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Also: kzrescue manifest diff BASE.json NOW.json")]
pub struct ManifestArgs {
    /// The pool's devices, then DATASET[@SNAP] (or: `diff BASE NOW`).
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

/// The datasets a manifest of `spec` covers.
fn covered(o: &Opened, spec: &str, recursive: bool) -> Result<Vec<String>> {
    if !recursive {
        return Ok(vec![spec.to_string()]);
    }
    let (names, errors) = descendants(&o.mos, &o.pool, spec);
    for e in errors {
        eprintln!("kzrescue: {e}");
    }
    if names.is_empty() {
        // name the missing dataset the way a plain manifest would
        open_fs(o, spec)?;
    }
    Ok(names)
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

/// Streams the entries of every dataset in `names` to `emit`; a dataset
/// that cannot be opened is an error in the summary.
fn stream_all(
    o: &Opened,
    names: &[String],
    recursive: bool,
    opts: &Options,
    bar: &ProgressBar,
    emit: &mut dyn FnMut(Entry) -> Result<()>,
) -> Result<Summary> {
    let mut total = Summary::default();
    for name in names {
        let fs = match open_fs(o, name) {
            Ok(fs) => fs,
            Err(e) if recursive => {
                total.errors.push(format!("dataset {name}: {e}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let label = recursive.then_some(name.as_str());
        let s = stream(&fs, label, opts, &|n| bar.inc(n), emit)?;
        total.errors.extend(s.errors);
        total.blocks = total.blocks + s.blocks;
        total.entries += s.entries;
    }
    Ok(total)
}

/// What `--against` found: the difference and each side's summary.
struct Against {
    diff: Diff,
    base: Summary,
    now: Summary,
}

/// `--against`: the baseline's and the current manifest built at once, half
/// the jobs each, their entries merged in walk order as they are finished,
/// so memory holds the differences, not the manifests. `None` when a side's
/// entries are not in walk order (two names made equal by lossy UTF-8): the
/// caller then compares whole manifests.
fn against(
    o: &Opened,
    base_spec: &str,
    now_spec: &str,
    recursive: bool,
    opts: &Options,
) -> Result<Option<Against>> {
    // datasets in the order of the merge's key: relative name, walk order
    let ordered = |spec: &str| -> Result<Vec<String>> {
        let mut names = covered(o, spec, recursive)?;
        names.sort_by(|a, b| path_order(&relative_dataset(spec, a), &relative_dataset(spec, b)));
        Ok(names)
    };
    let (base_names, now_names) = (ordered(base_spec)?, ordered(now_spec)?);
    let half = Options {
        jobs: (opts.jobs / 2).max(1),
        ..opts.clone()
    };
    let bar = progress_bar();
    let r = std::thread::scope(|s| {
        let side = |names: Vec<String>| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Entry>(1024);
            let (half, bar) = (&half, &bar);
            let h = s.spawn(move || {
                stream_all(o, &names, recursive, half, bar, &mut |e| {
                    // the merge stopped early (out of order): stop too
                    tx.send(e)
                        .map_err(|_| Error::Usage("manifest merge stopped".into()))
                })
            });
            (rx, h)
        };
        let (rb, hb) = side(base_names);
        let (rn, hn) = side(now_names);
        let merged = merge(base_spec, now_spec, rb.iter().map(Ok), rn.iter().map(Ok));
        // dropping the receivers stops a side the merge did not finish
        drop((rb, rn));
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<Summary>>| {
            h.join()
                .unwrap_or_else(|_| Err(Error::Usage("a manifest thread panicked".into())))
        };
        let (sb, sn) = (join(hb), join(hn));
        match merged? {
            Ok(diff) => Ok(Some(Against {
                diff,
                base: sb?,
                now: sn?,
            })),
            Err(_) => Ok(None),
        }
    });
    bar.finish_and_clear();
    r
}

/// A whole manifest in memory (for `--against` when a side is not in walk
/// order).
fn collect(o: &Opened, spec: &str, recursive: bool, opts: &Options) -> Result<Manifest> {
    let names = covered(o, spec, recursive)?;
    let bar = progress_bar();
    let mut entries = Vec::new();
    let s = stream_all(o, &names, recursive, opts, &bar, &mut |e| {
        entries.push(e);
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(Manifest {
        schema: SCHEMA.into(),
        pool: o.pool.name.clone(),
        dataset: spec.into(),
        recursive,
        txg: o.uberblock.txg,
        entries,
        errors: s.errors,
        blocks: s.blocks,
        max_file_size: Some(opts.max_file_size),
    })
}

/// The manifest document, serialised while it is built: `entries` is
/// written entry by entry as the pipeline finishes them, then `errors` and
/// `blocks` from its summary.
struct Doc<'a> {
    o: &'a Opened,
    dataset: &'a str,
    names: &'a [String],
    recursive: bool,
    opts: &'a Options,
    bar: &'a ProgressBar,
    summary: RefCell<Option<Summary>>,
    failure: RefCell<Option<Error>>,
}

impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Manifest", 9)?;
        st.serialize_field("schema", SCHEMA)?;
        st.serialize_field("pool", &self.o.pool.name)?;
        st.serialize_field("dataset", self.dataset)?;
        if self.recursive {
            st.serialize_field("recursive", &true)?;
        }
        st.serialize_field("txg", &self.o.uberblock.txg)?;
        st.serialize_field("entries", &Entries(self))?;
        let summary = self.summary.borrow();
        let (errors, blocks) = match summary.as_ref() {
            Some(s) => (&s.errors[..], s.blocks),
            None => (&[][..], BlockCounts::default()),
        };
        st.serialize_field("errors", errors)?;
        st.serialize_field("blocks", &blocks)?;
        st.serialize_field("max_file_size", &self.opts.max_file_size)?;
        st.end()
    }
}

struct Entries<'d, 'a>(&'d Doc<'a>);

impl Serialize for Entries<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let d = self.0;
        let mut seq = s.serialize_seq(None)?;
        let mut write_error = None;
        let r = stream_all(d.o, d.names, d.recursive, d.opts, d.bar, &mut |e| {
            seq.serialize_element(&e).map_err(|e| {
                let m = e.to_string();
                write_error = Some(e);
                Error::io("write stdout", std::io::Error::other(m))
            })
        });
        match r {
            Ok(summary) => *d.summary.borrow_mut() = Some(summary),
            Err(e) => {
                let m = e.to_string();
                *d.failure.borrow_mut() = Some(e);
                return Err(write_error.unwrap_or_else(|| S::Error::custom(m)));
            }
        }
        seq.end()
    }
}

/// Prints a document that carries its own `schema` (a manifest is
/// streamed as it is built; integers as strings unless `--json-int`).
fn print_json<T: Serialize>(v: &T) -> Result<()> {
    super::out::stream_json(v)
}

/// Says on stderr when some blocks could not be checksum-verified: their
/// hashes in the manifest vouch for what is on disk, not for what was
/// written.
fn warn_unverified(dataset: &str, b: BlockCounts) {
    if b.unverified > 0 {
        eprintln!(
            "kzrescue: warning: {}: {} of {} blocks use a checksum kzrescue does not compute (or none) and were read unverified",
            dataset,
            b.unverified,
            b.verified + b.unverified
        );
    }
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
    let (targets, ds) = super::ls::targets_and_spec(&args.args);
    let o = args.pool.open(targets)?;
    let mut opts = Options {
        max_file_size: args.max_file_size,
        ..Options::default()
    };
    if let Some(j) = args.jobs {
        let (n, lowered) = super::bounds::clamp_jobs(j);
        if lowered {
            eprintln!("kzrescue: note: --jobs {j} lowered to {n}");
        }
        opts.jobs = n;
    }
    match &args.against {
        Some(snap) => {
            let head = ds.split('@').next().unwrap_or(ds);
            let snap = snap.trim_start_matches('@');
            let base_spec = format!("{head}@{snap}");
            if let Some(a) = against(&o, &base_spec, ds, args.recursive, &opts)? {
                for e in a.base.errors.iter().chain(a.now.errors.iter()) {
                    eprintln!("kzrescue: {e}");
                }
                warn_unverified(&base_spec, a.base.blocks);
                warn_unverified(ds, a.now.blocks);
                print_json(&a.diff)?;
                return Ok(diff_exit(&a.diff));
            }
            let base = collect(&o, &base_spec, args.recursive, &opts)?;
            let now = collect(&o, ds, args.recursive, &opts)?;
            for e in base.errors.iter().chain(now.errors.iter()) {
                eprintln!("kzrescue: {e}");
            }
            warn_unverified(&base.dataset, base.blocks);
            warn_unverified(&now.dataset, now.blocks);
            let d = diff(&base, &now);
            print_json(&d)?;
            Ok(diff_exit(&d))
        }
        None => {
            let names = covered(&o, ds, args.recursive)?;
            let bar = progress_bar();
            let doc = Doc {
                o: &o,
                dataset: ds,
                names: &names,
                recursive: args.recursive,
                opts: &opts,
                bar: &bar,
                summary: RefCell::new(None),
                failure: RefCell::new(None),
            };
            let printed = print_json(&doc);
            bar.finish_and_clear();
            if let Some(e) = doc.failure.borrow_mut().take() {
                return Err(e);
            }
            printed?;
            let summary = doc.summary.borrow_mut().take().unwrap_or_default();
            for e in &summary.errors {
                eprintln!("kzrescue: {e}");
            }
            warn_unverified(ds, summary.blocks);
            Ok(if summary.errors.is_empty() {
                super::EXIT_OK
            } else {
                super::EXIT_PROBLEMS
            })
        }
    }
}
