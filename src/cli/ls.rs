//! `kzrescue ls <targets…> DATASET[@SNAP]:/path`: a directory listing (or
//! one file's line) in `ls -l --time-style=full-iso` style, times in UTC,
//! read offline; `--json` for the raw values.

use super::datasets::{PoolArgs, open_fs, split_spec};
use kzrescue::Result;
use kzrescue::zfs::walk::{escape_name, name_problem};
use kzrescue::zfs::zpl::{FileType, Znode, Zpl};
use serde::Serialize;

/// Arguments of `kzrescue ls`.
#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// The pool's devices, then `DATASET[@SNAP]:/path`.
    #[arg(required = true, num_args = 2.., value_name = "TARGET… SPEC")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Include the object number of each entry.
    #[arg(short = 'i', long)]
    pub inode: bool,
    /// Print JSON (schema `kzrescue.ls/1`): every entry's raw attributes,
    /// mtime as seconds and nanoseconds (integers as strings unless
    /// --json-int).
    #[arg(long)]
    pub json: bool,
}

/// One entry of `ls --json`.
#[derive(Serialize)]
struct EntryJson {
    name: String,
    object: u64,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<FileType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    links: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rdev: Option<[u64; 2]>,
    /// Seconds since 1970 (negative before).
    #[serde(skip_serializing_if = "Option::is_none")]
    mtime: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtime_nsec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The `ls --json` document.
#[derive(Serialize)]
struct LsDoc {
    pool: String,
    txg: u64,
    dataset: String,
    path: String,
    entries: Vec<EntryJson>,
}

/// One entry's raw attributes.
fn entry_json(fs: &Zpl, obj: u64, name: &[u8]) -> EntryJson {
    let mut e = EntryJson {
        name: String::from_utf8_lossy(name).into_owned(),
        object: obj,
        kind: None,
        mode: None,
        links: None,
        uid: None,
        gid: None,
        size: None,
        rdev: None,
        mtime: None,
        mtime_nsec: None,
        target: None,
        error: None,
    };
    match fs.znode(obj) {
        Ok((dn, z)) => {
            let t = z.file_type();
            e.kind = Some(t);
            e.mode = Some(format!("{:04o}", z.mode & 0o7777));
            (e.links, e.uid, e.gid, e.size) =
                (Some(z.links), Some(z.uid), Some(z.gid), Some(z.size));
            (e.mtime, e.mtime_nsec) = (Some(z.mtime.sec), Some(z.mtime.nsec));
            if matches!(t, FileType::Chardev | FileType::Blockdev) {
                let (ma, mi) = z.device();
                e.rdev = Some([ma, mi]);
            }
            if t == FileType::Symlink {
                match fs.readlink(&dn, &z) {
                    Ok(t) => e.target = Some(String::from_utf8_lossy(&t).into_owned()),
                    Err(err) => e.error = Some(err.to_string()),
                }
            }
        }
        Err(err) => e.error = Some(err.to_string()),
    }
    e
}

/// A modification time as `ls -l --time-style=full-iso` prints it, in UTC
/// (a nanosecond field of a billion or more, which no system writes, as
/// `?????????`).
pub fn full_iso(t: &kzrescue::zfs::zpl::Time) -> String {
    if t.nsec < 1_000_000_000 {
        kzrescue::time::full_iso(t.sec, t.nsec)
    } else {
        let c = kzrescue::time::Civil::from_unix(t.sec);
        format!("{}.????????? +0000", c.iso())
    }
}

/// Splits "targets… spec".
pub fn targets_and_spec(args: &[String]) -> (&[String], &str) {
    let (last, rest) = args
        .split_last()
        .map(|(l, r)| (l.as_str(), r))
        .unwrap_or(("", &[]));
    (rest, last)
}

/// `ls -l`'s permission string.
pub fn mode_string(z: &Znode) -> String {
    let m = z.mode;
    let mut s = String::new();
    s.push(z.file_type().letter());
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (i, (b, c)) in bits.iter().enumerate() {
        let set = m & b != 0;
        let ch = match i {
            2 if m & 0o4000 != 0 => {
                if set {
                    's'
                } else {
                    'S'
                }
            }
            5 if m & 0o2000 != 0 => {
                if set {
                    's'
                } else {
                    'S'
                }
            }
            8 if m & 0o1000 != 0 => {
                if set {
                    't'
                } else {
                    'T'
                }
            }
            _ => {
                if set {
                    *c
                } else {
                    '-'
                }
            }
        };
        s.push(ch);
    }
    s
}

/// One `ls -l` line.
pub fn line(fs: &Zpl, obj: u64, name: &[u8], inode: bool) -> String {
    match fs.znode(obj) {
        Ok((dn, z)) => {
            let mut l = String::new();
            if inode {
                l.push_str(&format!("{obj:>8} "));
            }
            let size = match z.file_type() {
                FileType::Chardev | FileType::Blockdev => {
                    let (ma, mi) = z.device();
                    format!("{ma},{mi}")
                }
                _ => z.size.to_string(),
            };
            l.push_str(&format!(
                "{} {:>3} {:>5} {:>5} {:>10} {} {}",
                mode_string(&z),
                z.links,
                z.uid,
                z.gid,
                size,
                full_iso(&z.mtime),
                String::from_utf8_lossy(name)
            ));
            if z.file_type() == FileType::Symlink {
                match fs.readlink(&dn, &z) {
                    Ok(t) => l.push_str(&format!(" -> {}", String::from_utf8_lossy(&t))),
                    Err(e) => l.push_str(&format!(" -> (unreadable: {e})")),
                }
            }
            l
        }
        Err(e) => format!(
            "?????????? {} (object {obj}: {e})",
            String::from_utf8_lossy(name)
        ),
    }
}

/// Runs the subcommand.
pub fn run(args: &LsArgs) -> Result<u8> {
    let (targets, spec) = targets_and_spec(&args.args);
    let (ds, path) = split_spec(spec);
    let o = args.pool.open(targets)?;
    let fs = open_fs(&o, &ds)?;
    let mut problems = usize::from(super::datasets::warn_fs(&fs));
    let obj = fs.lookup(&path)?;
    let (dn, z) = fs.znode(obj)?;
    let mut doc = LsDoc {
        pool: o.pool.name.clone(),
        txg: o.uberblock.txg,
        dataset: ds.clone(),
        path: path.clone(),
        entries: Vec::new(),
    };
    if z.file_type() == FileType::Dir {
        let mut seen = std::collections::HashSet::new();
        for e in fs.readdir(&dn)? {
            // a name no directory can hold is shown escaped, and reported
            let shown = escape_name(&e.name);
            if let Some(p) = name_problem(&e.name) {
                eprintln!(
                    "kzrescue: warning: {path}: entry {:?} (object {}): {p}; shown as {:?}",
                    String::from_utf8_lossy(&e.name),
                    e.object,
                    String::from_utf8_lossy(&shown)
                );
                problems += 1;
            }
            if !seen.insert(e.name.clone()) {
                eprintln!(
                    "kzrescue: warning: {path}: entry {:?} (object {}): a second entry of this name in one directory",
                    String::from_utf8_lossy(&e.name),
                    e.object
                );
                problems += 1;
            }
            if args.json {
                // the raw name, lossy UTF-8 (JSON escapes what needs it)
                let j = entry_json(&fs, e.object, &e.name);
                if j.error.is_some() {
                    problems += 1;
                }
                doc.entries.push(j);
                continue;
            }
            let l = line(&fs, e.object, &shown, args.inode);
            if l.starts_with('?') {
                // the listing keeps its line; the failure is said on stderr too
                if let Err(err) = fs.znode(e.object) {
                    eprintln!(
                        "kzrescue: {path}: entry {:?}: {err}",
                        String::from_utf8_lossy(&shown)
                    );
                }
                problems += 1;
            }
            super::datasets::emit(&l)?;
        }
    } else if args.json {
        doc.entries.push(entry_json(&fs, obj, path.as_bytes()));
    } else {
        super::datasets::emit(&line(&fs, obj, path.as_bytes(), args.inode))?;
    }
    if args.json {
        super::out::print_json("kzrescue.ls/1", &doc)?;
    }
    Ok(if problems == 0 {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    })
}
