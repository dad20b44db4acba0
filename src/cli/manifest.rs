//! `kzrescue manifest <targets…> DATASET[@SNAP] [--against @SNAP]` and
//! `kzrescue manifest diff BASE NOW`: integrity manifests of a file system
//! (every path with type, mode, owner, size, mtime and SHA-256), hashed in
//! parallel, and their comparison.

use super::datasets::{PoolArgs, open_fs};
use indicatif::{ProgressBar, ProgressStyle};
use kzrescue::zfs::walk::{Node, walk};
use kzrescue::zfs::zpl::{FileType, Zpl};
use kzrescue::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

/// Arguments of `kzrescue manifest`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Also: kzrescue manifest diff BASE.json NOW.json")]
pub struct ManifestArgs {
    /// The pool's devices, then DATASET[@SNAP] (or: `diff BASE NOW`).
    #[arg(required = true, num_args = 2.., value_name = "TARGET… DATASET")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Compare snapshot @SNAP (the baseline) against DATASET and print the diff.
    #[arg(long, value_name = "@SNAP")]
    pub against: Option<String>,
    /// Hashing threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
}

/// One path of a manifest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Entry {
    /// Path from the dataset root (lossy UTF-8).
    pub path: String,
    /// File type.
    #[serde(rename = "type")]
    pub kind: FileType,
    /// Permission bits (octal text).
    pub mode: String,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch (signed: negative before 1970).
    pub mtime: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u64,
    /// Link count.
    pub links: u64,
    /// Object number.
    pub object: u64,
    /// SHA-256 of the contents (regular files).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    /// Symlink target.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
    /// Device number (device nodes): major, minor.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rdev: Option<[u64; 2]>,
    /// Extended attributes: name → SHA-256.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub xattrs: BTreeMap<String, String>,
    /// Why the contents could not be read.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// A manifest document.
#[derive(Serialize, Deserialize, Debug)]
pub struct Manifest {
    /// `kzrescue.manifest/1`.
    pub schema: String,
    /// Pool name.
    pub pool: String,
    /// Dataset (with @snap).
    pub dataset: String,
    /// Txg of the uberblock read.
    pub txg: u64,
    /// Every path, sorted.
    pub entries: Vec<Entry>,
    /// Paths that could not be read at all.
    pub errors: Vec<String>,
    /// How the blocks read for this manifest were checked.
    #[serde(default)]
    pub blocks: BlockCounts,
}

/// Blocks read while building a manifest, by what their checksum said. An
/// examiner relies only on what was verified: unverified blocks use a
/// checksum kzrescue does not compute (or none) and could have been altered
/// without notice; repaired ones failed on one copy and were read from
/// another copy or rebuilt from parity.
#[derive(Serialize, Deserialize, Debug, Default, Clone, Copy, PartialEq)]
pub struct BlockCounts {
    /// Read and checksum-verified.
    pub verified: u64,
    /// Read without verification.
    pub unverified: u64,
    /// Verified after a bad copy was passed over.
    pub repaired: u64,
}

/// Builds the manifest of the whole file system `fs`.
pub fn build(fs: &Zpl, pool: &str, dataset: &str, txg: u64, jobs: Option<usize>) -> Manifest {
    let stats = &fs.pool.stats;
    let count = || {
        [&stats.verified, &stats.unverified, &stats.repaired]
            .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    };
    let before = count();
    let mut nodes: Vec<Node> = Vec::new();
    let mut errors = Vec::new();
    let spinner = ProgressBar::new_spinner();
    spinner.set_message("walking directories");
    walk(
        fs,
        fs.root,
        b"/",
        |n| {
            if nodes.len().is_multiple_of(1024) {
                spinner.set_message(format!("walking directories: {} paths", nodes.len()));
            }
            nodes.push(n)
        },
        |p, e| errors.push(format!("{}: {e}", String::from_utf8_lossy(&p))),
    );
    spinner.finish_and_clear();
    // hash each file object once (hard links share it)
    let mut files: Vec<(u64, usize)> = Vec::new();
    let mut seen = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if n.znode.file_type() == FileType::File && seen.insert(n.znode.object, i).is_none() {
            files.push((n.znode.object, i));
        }
    }
    let total: u64 = files.iter().map(|(_, i)| nodes[*i].znode.size).sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let hash_all = || -> HashMap<u64, std::result::Result<String, String>> {
        files
            .par_iter()
            .map(|(obj, i)| {
                let n = &nodes[*i];
                let mut h = Sha256::new();
                let r = fs.read_file(&n.dnode, n.znode.size, |b| {
                    h.update(b);
                    bar.inc(b.len() as u64);
                    Ok(())
                });
                (
                    *obj,
                    r.map(|_| hex::encode(h.finalize()))
                        .map_err(|e| e.to_string()),
                )
            })
            .collect()
    };
    let hashes =
        match jobs.and_then(|j| rayon::ThreadPoolBuilder::new().num_threads(j).build().ok()) {
            Some(tp) => tp.install(hash_all),
            None => hash_all(),
        };
    bar.finish_and_clear();
    let mut entries = Vec::with_capacity(nodes.len());
    for n in &nodes {
        let z = &n.znode;
        let kind = z.file_type();
        let mut e = Entry {
            path: String::from_utf8_lossy(&n.path).into_owned(),
            kind,
            mode: format!("{:04o}", z.mode & 0o7777),
            uid: z.uid,
            gid: z.gid,
            size: z.size,
            mtime: z.mtime.sec,
            mtime_nsec: z.mtime.nsec,
            links: z.links,
            object: z.object,
            sha256: None,
            target: None,
            rdev: None,
            xattrs: BTreeMap::new(),
            error: None,
        };
        match kind {
            FileType::File => match hashes.get(&z.object) {
                Some(Ok(h)) => e.sha256 = Some(h.clone()),
                Some(Err(m)) => {
                    errors.push(format!("{}: {m}", e.path));
                    e.error = Some(m.clone());
                }
                None => {}
            },
            FileType::Symlink => match fs.readlink(&n.dnode, z) {
                Ok(t) => e.target = Some(String::from_utf8_lossy(&t).into_owned()),
                Err(m) => {
                    errors.push(format!("{}: {m}", e.path));
                    e.error = Some(m.to_string());
                }
            },
            FileType::Chardev | FileType::Blockdev => {
                let (ma, mi) = z.device();
                e.rdev = Some([ma, mi]);
            }
            _ => {}
        }
        if z.xattr != 0 {
            match xattrs(fs, z.xattr) {
                Ok(x) => e.xattrs = x,
                Err(m) => errors.push(format!("{} (xattr directory): {m}", e.path)),
            }
        }
        entries.push(e);
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let after = count();
    Manifest {
        schema: "kzrescue.manifest/1".into(),
        pool: pool.into(),
        dataset: dataset.into(),
        txg,
        entries,
        errors,
        blocks: BlockCounts {
            verified: after[0] - before[0],
            unverified: after[1] - before[1],
            repaired: after[2] - before[2],
        },
    }
}

/// Name → SHA-256 of the files in an extended-attribute directory.
fn xattrs(fs: &Zpl, dir: u64) -> Result<BTreeMap<String, String>> {
    let (dn, _) = fs.znode(dir)?;
    let mut out = BTreeMap::new();
    for e in fs.readdir(&dn)? {
        let (xdn, xz) = fs.znode(e.object)?;
        let mut h = Sha256::new();
        fs.read_file(&xdn, xz.size, |b| {
            h.update(b);
            Ok(())
        })?;
        out.insert(
            String::from_utf8_lossy(&e.name).into_owned(),
            hex::encode(h.finalize()),
        );
    }
    Ok(out)
}

/// A changed path.
#[derive(Serialize, Debug)]
pub struct Change {
    /// Path.
    pub path: String,
    /// Contents differ (type, size, SHA-256, symlink target, device, xattrs).
    pub content: bool,
    /// Metadata fields that differ (mode, uid, gid, mtime).
    pub metadata: Vec<&'static str>,
}

/// The difference between two manifests.
#[derive(Serialize, Debug)]
pub struct Diff {
    /// `kzrescue.manifest-diff/1`.
    pub schema: &'static str,
    /// Baseline dataset.
    pub base: String,
    /// Compared dataset.
    pub now: String,
    /// Paths only in `now`.
    pub added: Vec<String>,
    /// Paths only in `base`.
    pub removed: Vec<String>,
    /// Paths in both that differ.
    pub changed: Vec<Change>,
}

/// Compares two manifests.
pub fn diff(base: &Manifest, now: &Manifest) -> Diff {
    let b: BTreeMap<&str, &Entry> = base.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let n: BTreeMap<&str, &Entry> = now.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut d = Diff {
        schema: "kzrescue.manifest-diff/1",
        base: base.dataset.clone(),
        now: now.dataset.clone(),
        added: n
            .keys()
            .filter(|p| !b.contains_key(*p))
            .map(|p| p.to_string())
            .collect(),
        removed: b
            .keys()
            .filter(|p| !n.contains_key(*p))
            .map(|p| p.to_string())
            .collect(),
        changed: Vec::new(),
    };
    for (p, x) in &b {
        let Some(y) = n.get(p) else { continue };
        let content = x.kind != y.kind
            || x.sha256 != y.sha256
            || x.target != y.target
            || x.rdev != y.rdev
            || x.xattrs != y.xattrs
            || (x.kind == FileType::File && x.size != y.size);
        let mut metadata = Vec::new();
        if x.mode != y.mode {
            metadata.push("mode");
        }
        if x.uid != y.uid {
            metadata.push("uid");
        }
        if x.gid != y.gid {
            metadata.push("gid");
        }
        if (x.mtime, x.mtime_nsec) != (y.mtime, y.mtime_nsec) && x.kind != FileType::Dir {
            metadata.push("mtime");
        }
        if content || !metadata.is_empty() {
            d.changed.push(Change {
                path: p.to_string(),
                content,
                metadata,
            });
        }
    }
    d
}

fn print_json<T: Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut ser = serde_json::Serializer::with_formatter(&mut out, SafeFormatter::default());
    v.serialize(&mut ser)
        .map_err(|e| Error::Usage(e.to_string()))?;
    writeln!(out)
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("write stdout", e))
}

/// serde_json's pretty printer, streaming, that also writes DEL and the C1
/// controls as `\u00NN` (serde_json escapes only C0), as the rest of the
/// CLI's output does (see `out.rs`): a manifest of a hostile disk holds file
/// names an intruder chose.
#[derive(Default)]
struct SafeFormatter(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        w.write_all(super::out::escape(fragment).as_bytes())
    }
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn load(path: &str) -> Result<Manifest> {
    let text = std::fs::read(path).map_err(|e| Error::io(format!("read {path}"), e))?;
    serde_json::from_slice(&text)
        .map_err(|e| Error::Usage(format!("{path} is not a kzrescue manifest: {e}")))
}

/// Says on stderr when some blocks could not be checksum-verified: their
/// hashes in the manifest vouch for what is on disk, not for what was
/// written.
fn warn_unverified(m: &Manifest) {
    let b = m.blocks;
    if b.unverified > 0 {
        eprintln!(
            "kzrescue: warning: {}: {} of {} blocks use a checksum kzrescue does not compute (or none) and were read unverified",
            m.dataset,
            b.unverified,
            b.verified + b.unverified
        );
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
        let d = diff(&load(base)?, &load(now)?);
        print_json(&d)?;
        return Ok(
            if d.added.is_empty() && d.removed.is_empty() && d.changed.is_empty() {
                super::EXIT_OK
            } else {
                super::EXIT_PROBLEMS
            },
        );
    }
    let (targets, ds) = super::ls::targets_and_spec(&args.args);
    let o = args.pool.open(targets)?;
    let make = |name: &str| -> Result<Manifest> {
        let fs = open_fs(&o, name)?;
        Ok(build(&fs, &o.pool.name, name, o.uberblock.txg, args.jobs))
    };
    match &args.against {
        Some(snap) => {
            let head = ds.split('@').next().unwrap_or(ds);
            let snap = snap.trim_start_matches('@');
            let base = make(&format!("{head}@{snap}"))?;
            let now = make(ds)?;
            for e in base.errors.iter().chain(now.errors.iter()) {
                eprintln!("kzrescue: {e}");
            }
            warn_unverified(&base);
            warn_unverified(&now);
            let d = diff(&base, &now);
            print_json(&d)?;
            Ok(
                if d.added.is_empty() && d.removed.is_empty() && d.changed.is_empty() {
                    super::EXIT_OK
                } else {
                    super::EXIT_PROBLEMS
                },
            )
        }
        None => {
            let m = make(ds)?;
            for e in &m.errors {
                eprintln!("kzrescue: {e}");
            }
            warn_unverified(&m);
            print_json(&m)?;
            Ok(if m.errors.is_empty() {
                super::EXIT_OK
            } else {
                super::EXIT_PROBLEMS
            })
        }
    }
}
