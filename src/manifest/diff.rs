//! The difference between two manifests, by merging their entries in walk
//! order: only the differences are held, not the manifests. Manifest files
//! are parsed as they are read ([`stream_files`]); a file whose entries are
//! not in walk order (written by an older kzrescue, which sorted paths as
//! plain strings) is compared after sorting it in memory.

use super::{Entry, Manifest, path_order, relative_dataset};
use crate::error::{Error, Result};
use crate::zfs::zpl::FileType;
use serde::Serialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cmp::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// The `schema` of a diff document.
pub const SCHEMA: &str = "kzrescue.manifest-diff/1";

/// A changed path.
#[derive(Serialize, Debug, PartialEq)]
pub struct Change {
    /// The dataset below the top one (recursive manifests: `/child`; absent
    /// for the top dataset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
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
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// Baseline dataset.
    pub base: String,
    /// Compared dataset.
    pub now: String,
    /// Paths only in `now` (recursive: `/child:/path` below the top dataset).
    pub added: Vec<String>,
    /// Paths only in `base`.
    pub removed: Vec<String>,
    /// Paths in both that differ.
    pub changed: Vec<Change>,
}

impl Diff {
    /// Whether the two manifests agree.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// An entry's place in a manifest whose top dataset is `top`: its dataset
/// below the top, and its path.
fn key(top: &str, e: &Entry) -> (String, String) {
    let ds = e
        .dataset
        .as_deref()
        .map(|d| relative_dataset(top, d))
        .unwrap_or_default();
    (ds, e.path.clone())
}

fn key_order(a: &(String, String), b: &(String, String)) -> Ordering {
    path_order(&a.0, &b.0).then_with(|| path_order(&a.1, &b.1))
}

fn shown(k: &(String, String)) -> String {
    if k.0.is_empty() {
        k.1.clone()
    } else {
        format!("{}:{}", k.0, k.1)
    }
}

/// Entries out of walk order: the caller sorts and compares again.
#[derive(Debug)]
pub struct OutOfOrder;

/// Merges two entry streams in walk order into their difference. Either
/// stream out of order ends it with [`OutOfOrder`].
pub fn merge(
    base_top: &str,
    now_top: &str,
    base: impl IntoIterator<Item = Result<Entry>>,
    now: impl IntoIterator<Item = Result<Entry>>,
) -> Result<std::result::Result<Diff, OutOfOrder>> {
    let mut d = Diff {
        schema: SCHEMA,
        base: base_top.to_string(),
        now: now_top.to_string(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
    };
    let mut b = Cursor::new(base_top, base.into_iter());
    let mut n = Cursor::new(now_top, now.into_iter());
    b.advance()?;
    n.advance()?;
    loop {
        if b.disorder || n.disorder {
            return Ok(Err(OutOfOrder));
        }
        match (&b.cur, &n.cur) {
            (None, None) => {
                // listed as plain strings, as the paths read
                d.added.sort();
                d.removed.sort();
                d.changed
                    .sort_by(|x, y| (&x.dataset, &x.path).cmp(&(&y.dataset, &y.path)));
                return Ok(Ok(d));
            }
            (Some((k, _)), None) => {
                d.removed.push(shown(k));
                b.advance()?;
            }
            (None, Some((k, _))) => {
                d.added.push(shown(k));
                n.advance()?;
            }
            (Some((kb, x)), Some((kn, y))) => match key_order(kb, kn) {
                Ordering::Less => {
                    d.removed.push(shown(kb));
                    b.advance()?;
                }
                Ordering::Greater => {
                    d.added.push(shown(kn));
                    n.advance()?;
                }
                Ordering::Equal => {
                    if let Some(c) = compare(kb, x, y) {
                        d.changed.push(c);
                    }
                    b.advance()?;
                    n.advance()?;
                }
            },
        }
    }
}

/// One side of a merge: the current entry and its key, and whether the
/// stream went backwards.
struct Cursor<'a, I> {
    top: &'a str,
    it: I,
    cur: Option<((String, String), Entry)>,
    disorder: bool,
}

impl<'a, I: Iterator<Item = Result<Entry>>> Cursor<'a, I> {
    fn new(top: &'a str, it: I) -> Self {
        Cursor {
            top,
            it,
            cur: None,
            disorder: false,
        }
    }

    fn advance(&mut self) -> Result<()> {
        let next = match self.it.next() {
            Some(e) => {
                let e = e?;
                Some((key(self.top, &e), e))
            }
            None => None,
        };
        if let (Some((old, _)), Some((new, _))) = (&self.cur, &next)
            && key_order(old, new) != Ordering::Less
        {
            self.disorder = true;
        }
        self.cur = next;
        Ok(())
    }
}

/// How entry `x` (baseline) and `y` (now) of one path differ.
fn compare(k: &(String, String), x: &Entry, y: &Entry) -> Option<Change> {
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
    (content || !metadata.is_empty()).then(|| Change {
        dataset: (!k.0.is_empty()).then(|| k.0.clone()),
        path: k.1.clone(),
        content,
        metadata,
    })
}

/// Compares two manifests held in memory.
pub fn diff(base: &Manifest, now: &Manifest) -> Diff {
    let sorted = |m: &Manifest| {
        let mut v: Vec<Entry> = m.entries.clone();
        v.sort_by(|a, b| key_order(&key(&m.dataset, a), &key(&m.dataset, b)));
        v.into_iter().map(Ok)
    };
    match merge(&base.dataset, &now.dataset, sorted(base), sorted(now)) {
        Ok(Ok(d)) => d,
        // sorted, and no iterator errors: a duplicate path (a hostile
        // name made equal by lossy UTF-8) is the only way here
        _ => merge_dedup(base, now),
    }
}

/// [`diff`] when a manifest names one path twice: the later entry counts.
fn merge_dedup(base: &Manifest, now: &Manifest) -> Diff {
    let unique = |m: &Manifest| {
        let mut map = std::collections::BTreeMap::new();
        for e in &m.entries {
            let k = key(&m.dataset, e);
            map.insert(k, e.clone());
        }
        let mut v: Vec<_> = map.into_iter().collect();
        v.sort_by(|a, b| key_order(&a.0, &b.0));
        v.into_iter().map(|(_, e)| Ok(e))
    };
    match merge(&base.dataset, &now.dataset, unique(base), unique(now)) {
        Ok(Ok(d)) => d,
        _ => Diff {
            schema: SCHEMA,
            base: base.dataset.clone(),
            now: now.dataset.clone(),
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
        },
    }
}

/// What the parser of a manifest file sends: its top dataset (once, before
/// the entries), entries, and the end.
enum Msg {
    Top(String),
    Entry(Box<Entry>),
    End(std::result::Result<(), String>),
}

/// Compares two manifest files, parsing both as they are read; only when
/// one is not in walk order are both loaded whole and sorted.
pub fn stream_files(base: &std::path::Path, now: &std::path::Path) -> Result<Diff> {
    // standard input, devices and the like go through the bounded reader
    let regular = |p: &std::path::Path| std::fs::metadata(p).is_ok_and(|m| m.is_file());
    if !regular(base) || !regular(now) {
        return Ok(diff(&load(base)?, &load(now)?));
    }
    let streamed = std::thread::scope(|s| -> Result<Option<Diff>> {
        let (rb, rn) = (spawn_parser(s, base), spawn_parser(s, now));
        let (tb, tn) = (top(&rb, base)?, top(&rn, now)?);
        let r = merge(&tb, &tn, entries(&rb, base), entries(&rn, now));
        // dropping the receivers stops both parsers
        drop((rb, rn));
        Ok(r?.ok())
    })?;
    match streamed {
        Some(d) => Ok(d),
        None => Ok(diff(&load(base)?, &load(now)?)),
    }
}

/// Reads a whole manifest file.
/// Standard input (`-`) is allowed; anything but a regular file is refused,
/// and at most [`crate::input::MAX_MANIFEST`] bytes are read.
pub fn load(path: &std::path::Path) -> Result<Manifest> {
    let text = crate::input::read_bounded(path, "manifest", crate::input::MAX_MANIFEST, true)?;
    serde_json::from_slice(&text).map_err(|e| not_a_manifest(path, e))
}

fn not_a_manifest(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
    Error::Usage(format!(
        "{} is not a kzrescue manifest: {e}",
        path.display()
    ))
}

fn spawn_parser<'s>(s: &'s std::thread::Scope<'s, '_>, path: &'s std::path::Path) -> Receiver<Msg> {
    let (tx, rx) = sync_channel::<Msg>(1024);
    s.spawn(move || {
        // a regular file (checked by the caller, again here on the handle)
        let r = crate::input::open_regular(path, "manifest")
            .map_err(|e| e.to_string())
            .and_then(|(f, _)| {
                let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(f));
                serde::Deserializer::deserialize_map(&mut de, Doc { tx: &tx })
                    .map_err(|e| e.to_string())
            });
        let _ = tx.send(Msg::End(r.map(|_| ())));
    });
    rx
}

fn top(rx: &Receiver<Msg>, path: &std::path::Path) -> Result<String> {
    match rx.recv() {
        Ok(Msg::Top(t)) => Ok(t),
        Ok(Msg::End(Err(e))) => Err(not_a_manifest(path, e)),
        _ => Err(not_a_manifest(
            path,
            "no \"dataset\" before its \"entries\"",
        )),
    }
}

fn entries<'a>(
    rx: &'a Receiver<Msg>,
    path: &'a std::path::Path,
) -> impl Iterator<Item = Result<Entry>> + 'a {
    std::iter::from_fn(move || match rx.recv() {
        Ok(Msg::Entry(e)) => Some(Ok(*e)),
        Ok(Msg::End(Err(e))) => Some(Err(not_a_manifest(path, e))),
        _ => None,
    })
}

/// The document visitor: sends the top dataset when the entries begin, then
/// every entry; other fields are skipped.
struct Doc<'a> {
    tx: &'a SyncSender<Msg>,
}

impl<'de> Visitor<'de> for Doc<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a kzrescue manifest object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let mut dataset: Option<String> = None;
        let mut schema_ok = false;
        let mut seen_entries = false;
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                "schema" => {
                    let s: String = map.next_value()?;
                    if !super::SCHEMAS_READ.contains(&s.as_str()) {
                        return Err(serde::de::Error::custom(format!("schema {s:?}")));
                    }
                    schema_ok = true;
                }
                "dataset" => dataset = Some(map.next_value()?),
                "entries" => {
                    let Some(d) = dataset.clone() else {
                        return Err(serde::de::Error::custom(
                            "no \"dataset\" before \"entries\"",
                        ));
                    };
                    if self.tx.send(Msg::Top(d)).is_err() {
                        return Err(serde::de::Error::custom("comparison stopped"));
                    }
                    map.next_value_seed(Entries { tx: self.tx })?;
                    seen_entries = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !schema_ok || !seen_entries {
            return Err(serde::de::Error::custom(
                "missing \"schema\" or \"entries\"",
            ));
        }
        Ok(())
    }
}

struct Entries<'a> {
    tx: &'a SyncSender<Msg>,
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of manifest entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(e) = seq.next_element::<Entry>()? {
            if self.tx.send(Msg::Entry(Box::new(e))).is_err() {
                return Err(serde::de::Error::custom("comparison stopped"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, sha: &str) -> Entry {
        Entry {
            dataset: None,
            path: path.into(),
            kind: FileType::File,
            mode: "0644".into(),
            uid: 0,
            gid: 0,
            size: 1,
            mtime: 0,
            mtime_nsec: 0,
            links: 1,
            object: 2,
            sha256: Some(sha.into()),
            target: None,
            rdev: None,
            xattrs: Default::default(),
            error: None,
        }
    }

    fn doc(paths: &[(&str, &str)]) -> Manifest {
        Manifest {
            schema: crate::manifest::SCHEMA.into(),
            pool: "p".into(),
            dataset: "p/fs".into(),
            recursive: false,
            txg: 1,
            entries: paths.iter().map(|(p, s)| entry(p, s)).collect(),
            errors: vec![],
            blocks: Default::default(),
            max_file_size: None,
        }
    }

    /// Walk-ordered files merge as they stream; a file in plain string
    /// order (older kzrescue) gives the same difference through the sort.
    #[test]
    fn streamed_and_sorted_diffs_agree() {
        let dir = tempfile::tempdir().unwrap();
        let base = doc(&[
            ("/", "x"),
            ("/a", "x"),
            ("/a/b", "1"),
            ("/a.txt", "x"),
            ("/c", "x"),
        ]);
        let now = doc(&[
            ("/", "x"),
            ("/a", "x"),
            ("/a/b", "2"),
            ("/a.txt", "x"),
            ("/d", "x"),
        ]);
        let old = doc(&[
            ("/", "x"),
            ("/a", "x"),
            ("/a.txt", "x"),
            ("/a/b", "1"),
            ("/c", "x"),
        ]);
        let write = |name: &str, m: &Manifest| {
            let p = dir.path().join(name);
            std::fs::write(&p, serde_json::to_vec_pretty(m).unwrap()).unwrap();
            p
        };
        let (b, n, o) = (write("b", &base), write("n", &now), write("o", &old));
        let want = diff(&base, &now);
        assert_eq!(want.added, ["/d"]);
        assert_eq!(want.removed, ["/c"]);
        assert_eq!(want.changed.len(), 1);
        assert_eq!(want.changed[0].path, "/a/b");
        for (x, y) in [(&b, &n), (&o, &n)] {
            let got = stream_files(x, y).unwrap();
            assert_eq!((&got.added, &got.removed), (&want.added, &want.removed));
            assert_eq!(got.changed, want.changed);
        }
        // not a manifest: one error naming the file
        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"{\"entries\": 3}").unwrap();
        let e = stream_files(&bad, &n).unwrap_err().to_string();
        assert!(e.contains("is not a kzrescue manifest"), "{e}");
    }
}
