//! What `kzrescue ls` shows: a directory's entries (or one object) with
//! their attributes, rendered as `ls -l --time-style=full-iso` lines or as
//! the `kzrescue.ls/1` JSON document (see formats/json-schema.md).

use super::{Notice, Place};
use crate::error::Result;
use crate::tz::Zone;
use crate::zfs::walk::{escape_name, name_problem};
use crate::zfs::zpl::{FileType, Time, Znode, Zpl};
use serde::Serialize;

/// One entry of a listing: the name it has in its directory and what its
/// object holds.
pub struct Listed {
    /// The name's bytes as the directory holds them.
    pub name: Vec<u8>,
    /// The object number.
    pub object: u64,
    /// The object's znode, or why it does not read.
    pub znode: Result<Znode>,
    /// A symlink's target, or why it does not read.
    pub target: Option<Result<Vec<u8>>>,
    /// Why the name cannot be a file name (shown escaped), if it cannot.
    pub name_problem: Option<&'static str>,
    /// A second entry of this name in one directory.
    pub duplicate: bool,
}

/// What `ls` sees at a path: a directory's entries, or the one object.
pub struct Listing {
    /// Whether the path is a directory (its entries are listed).
    pub dir: bool,
    /// The entries, in directory order (or the path's own object).
    pub entries: Vec<Listed>,
}

impl Listed {
    /// Reads object `object`, named `name`.
    fn read(fs: &Zpl, object: u64, name: &[u8]) -> Listed {
        let node = fs.znode(object);
        let target = match &node {
            Ok((dn, z)) if z.file_type() == FileType::Symlink => Some(fs.readlink(dn, z)),
            _ => None,
        };
        Listed {
            name: name.to_vec(),
            object,
            znode: node.map(|(_, z)| z),
            target,
            name_problem: None,
            duplicate: false,
        }
    }
}

/// Lists `path` of `fs`: a directory's entries with the name problems
/// and duplicates flagged, or the object itself under the path's name.
pub fn list(fs: &Zpl, path: &str) -> Result<Listing> {
    let obj = fs.lookup(path)?;
    let (dn, z) = fs.znode(obj)?;
    if z.file_type() != FileType::Dir {
        return Ok(Listing {
            dir: false,
            entries: vec![Listed::read(fs, obj, path.as_bytes())],
        });
    }
    let mut seen = std::collections::HashSet::new();
    let mut entries = Vec::new();
    for e in fs.readdir(&dn)? {
        let mut l = Listed::read(fs, e.object, &e.name);
        l.name_problem = name_problem(&e.name);
        l.duplicate = !seen.insert(e.name);
        entries.push(l);
    }
    Ok(Listing { dir: true, entries })
}

/// A listing at a place of a pool, with the state it was read from.
pub struct Ls {
    /// Pool name.
    pub pool: String,
    /// The txg read.
    pub txg: u64,
    /// The dataset (`pool/fs[@snap]`).
    pub dataset: String,
    /// The path listed.
    pub path: String,
    /// What is there.
    pub listing: Listing,
}

/// Lists the path of a place.
pub fn ls(p: &Place) -> Result<Ls> {
    Ok(Ls {
        pool: p.opened.pool.name.clone(),
        txg: p.opened.uberblock.txg,
        dataset: p.spec.dataset.clone(),
        path: p.spec.path.clone(),
        listing: list(&p.fs, &p.spec.path)?,
    })
}

/// One entry of the JSON document: its raw attributes.
#[derive(Serialize, Default)]
pub struct EntryJson {
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

/// The `kzrescue.ls/1` document (without its `schema`).
#[derive(Serialize)]
pub struct LsDoc<'a> {
    pool: &'a str,
    txg: u64,
    dataset: &'a str,
    path: &'a str,
    entries: Vec<EntryJson>,
}

impl Listed {
    /// The entry's raw attributes (the name as lossy UTF-8; JSON escapes
    /// what needs it).
    fn json(&self) -> EntryJson {
        let mut e = EntryJson {
            name: String::from_utf8_lossy(&self.name).into_owned(),
            object: self.object,
            ..EntryJson::default()
        };
        let z = match &self.znode {
            Ok(z) => z,
            Err(err) => {
                e.error = Some(err.to_string());
                return e;
            }
        };
        let t = z.file_type();
        e.kind = Some(t);
        e.mode = Some(format!("{:04o}", z.mode & 0o7777));
        (e.links, e.uid, e.gid, e.size) = (Some(z.links), Some(z.uid), Some(z.gid), Some(z.size));
        (e.mtime, e.mtime_nsec) = (Some(z.mtime.sec), Some(z.mtime.nsec));
        if matches!(t, FileType::Chardev | FileType::Blockdev) {
            let (ma, mi) = z.device();
            e.rdev = Some([ma, mi]);
        }
        match &self.target {
            Some(Ok(t)) => e.target = Some(String::from_utf8_lossy(t).into_owned()),
            Some(Err(err)) => e.error = Some(err.to_string()),
            None => {}
        }
        e
    }

    /// The entry's `ls -l` line, shown as `name`.
    pub fn line(&self, name: &[u8], inode: bool, zone: &Zone) -> String {
        let z = match &self.znode {
            Ok(z) => z,
            Err(e) => {
                return format!(
                    "?????????? {} (object {}: {e})",
                    String::from_utf8_lossy(name),
                    self.object
                );
            }
        };
        let mut s = String::new();
        if inode {
            s.push_str(&format!("{:>8} ", self.object));
        }
        let size = match z.file_type() {
            FileType::Chardev | FileType::Blockdev => {
                let (ma, mi) = z.device();
                format!("{ma},{mi}")
            }
            _ => z.size.to_string(),
        };
        s.push_str(&format!(
            "{} {:>3} {:>5} {:>5} {:>10} {} {}",
            mode_string(z),
            z.links,
            z.uid,
            z.gid,
            size,
            full_iso(&z.mtime, zone),
            String::from_utf8_lossy(name)
        ));
        match &self.target {
            Some(Ok(t)) => s.push_str(&format!(" -> {}", String::from_utf8_lossy(t))),
            Some(Err(e)) => s.push_str(&format!(" -> (unreadable: {e})")),
            None => {}
        }
        s
    }
}

impl Ls {
    /// The name an entry is shown as: a name no directory can hold,
    /// escaped.
    fn shown(&self, l: &Listed) -> Vec<u8> {
        if self.listing.dir {
            escape_name(&l.name)
        } else {
            l.name.clone()
        }
    }

    /// Hands what is wrong with a directory entry's name to `notice`; how
    /// many things were.
    fn name_notices(&self, l: &Listed, notice: &mut dyn FnMut(Notice)) -> usize {
        if !self.listing.dir {
            return 0;
        }
        let name = String::from_utf8_lossy(&l.name);
        let mut problems = 0;
        if let Some(p) = l.name_problem {
            notice(Notice::Warning(format!(
                "{}: entry {name:?} (object {}): {p}; shown as {:?}",
                self.path,
                l.object,
                String::from_utf8_lossy(&self.shown(l))
            )));
            problems += 1;
        }
        if l.duplicate {
            notice(Notice::Warning(format!(
                "{}: entry {name:?} (object {}): a second entry of this name in one directory",
                self.path, l.object
            )));
            problems += 1;
        }
        problems
    }

    /// Hands the `ls -l` lines to `line` in directory order, and what is
    /// wrong with an entry (its name, its object) to `notice` before its
    /// line; the number of problems.
    pub fn write_text(
        &self,
        inode: bool,
        zone: &Zone,
        notice: &mut dyn FnMut(Notice),
        line: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<usize> {
        let mut problems = 0;
        for l in &self.listing.entries {
            let shown = self.shown(l);
            problems += self.name_notices(l, notice);
            if let (true, Err(err)) = (self.listing.dir, &l.znode) {
                // the listing keeps its line; the failure is said too
                notice(Notice::Problem(format!(
                    "{}: entry {:?}: {err}",
                    self.path,
                    String::from_utf8_lossy(&shown)
                )));
                problems += 1;
            }
            line(&l.line(&shown, inode, zone))?;
        }
        Ok(problems)
    }

    /// The JSON document, with what is wrong with an entry's name handed
    /// to `notice`; and the number of problems (bad names, entries with an
    /// error).
    pub fn json(&self, notice: &mut dyn FnMut(Notice)) -> (LsDoc<'_>, usize) {
        let mut problems = 0;
        let mut entries = Vec::new();
        for l in &self.listing.entries {
            problems += self.name_notices(l, notice);
            let j = l.json();
            if self.listing.dir && j.error.is_some() {
                problems += 1;
            }
            entries.push(j);
        }
        let doc = LsDoc {
            pool: &self.pool,
            txg: self.txg,
            dataset: &self.dataset,
            path: &self.path,
            entries,
        };
        (doc, problems)
    }
}

/// A modification time as `ls -l --time-style=full-iso` prints it, in
/// `zone` (a nanosecond field of a billion or more, which no system
/// writes, as `?????????`).
pub fn full_iso(t: &Time, zone: &Zone) -> String {
    if t.nsec < 1_000_000_000 {
        crate::tz::full_iso(t.sec, t.nsec, zone)
    } else {
        let (c, off) = crate::tz::local(t.sec, zone);
        format!("{}.????????? {off}", c.iso())
    }
}

/// `ls -l`'s permission string.
pub fn mode_string(z: &Znode) -> String {
    let m = z.mode;
    let mut s = String::new();
    s.push(z.file_type().letter());
    let bits = [
        0o400, 0o200, 0o100, 0o040, 0o020, 0o010, 0o004, 0o002, 0o001,
    ];
    for (i, b) in bits.into_iter().enumerate() {
        let set = m & b != 0;
        // setuid, setgid and sticky show in the x column of their triple
        let special = match i {
            2 => (m & 0o4000 != 0).then_some('s'),
            5 => (m & 0o2000 != 0).then_some('s'),
            8 => (m & 0o1000 != 0).then_some('t'),
            _ => None,
        };
        s.push(match (special, set) {
            (Some(c), true) => c,
            (Some(c), false) => c.to_ascii_uppercase(),
            (None, true) => ['r', 'w', 'x'][i % 3],
            (None, false) => '-',
        });
    }
    s
}
