//! The undo journal: every byte range a repair is about to overwrite, saved
//! (and fsynced) before the first write.
//!
//! A journal names one or more targets (the path to reopen, the source's
//! identity and size) and, per target, the ranges written: offset, a short
//! description, the old bytes and the new bytes. A SHA-256 of everything
//! before it closes the file. Keeping the new bytes as well as the old ones
//! lets `undo` check, sector by sector, that the target still holds what the
//! repair wrote (or what was there before, or a torn mix of the two after a
//! crash) and refuse anything else — a journal from another image, or a pool
//! that was imported and rewritten since. The layout is in
//! `formats/undo-journal.md`.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The extension of every undo journal.
pub const EXTENSION: &str = "kzj";

/// The name kzrescue gives a journal it names itself:
/// `kzrescue-<command>-<name>-<unix seconds>.kzj`, where `command` says
/// which writer made it (`physpath`, `hostdata`, `repair`, `label-repair`,
/// `partitions-restore`) and `name` what it wrote (a pool, a zone, a disk;
/// characters other than ASCII letters, digits, `-` and `_` become `_`).
pub fn default_file_name(command: &str, name: &str, unix_secs: u64) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "kzrescue-{}-{}-{unix_secs}.{EXTENSION}",
        clean(command),
        clean(name)
    )
}

/// `dir` joined with the [`default_file_name`] of `command` and `name`,
/// stamped with the current time.
pub fn default_path(dir: &Path, command: &str, name: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    dir.join(default_file_name(command, name, secs))
}

/// The first 8 bytes of every journal.
pub const MAGIC: [u8; 8] = *b"KZJRNL\r\n";
/// The only format version written and read.
pub const VERSION: u32 = 1;
/// Most targets one journal may name.
pub const MAX_TARGETS: u32 = 64;
/// Most ranges per target.
pub const MAX_RANGES: u32 = 4096;
/// Longest single range.
pub const MAX_RANGE_LEN: u32 = 16 << 20;
/// Longest string field (path, identity, purpose, description).
pub const MAX_STRING: u16 = 4096;
/// Largest journal file `read` accepts.
pub const MAX_JOURNAL: u64 = 1 << 30;
/// Granularity at which a torn write is recognised: one 512-byte sector,
/// aligned to the target's absolute offsets.
pub const SECTOR: u64 = 512;

const STRUCTURE: &str = "undo journal";

/// One overwritten byte range of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// Absolute byte offset on the target.
    pub offset: u64,
    /// What the range is, e.g. "s1 label 2 vdev_phys".
    pub what: String,
    /// The bytes before the repair.
    pub old: Vec<u8>,
    /// The bytes the repair writes (same length as `old`).
    pub new: Vec<u8>,
}

impl Range {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.old.len()
    }

    /// Whether the range is empty (never true in a valid journal).
    pub fn is_empty(&self) -> bool {
        self.old.is_empty()
    }
}

/// One target of a journal: a disk, image or LUN and the ranges written to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRecord {
    /// How to reopen it (the path or URI the user gave, canonicalised).
    pub path: String,
    /// [`crate::source::Source::identity`] when the journal was written.
    pub identity: String,
    /// Its size in bytes.
    pub size: u64,
    /// The ranges, sorted by offset and not overlapping.
    pub ranges: Vec<Range>,
}

/// A decoded, validated undo journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    /// Seconds since the Unix epoch when it was made.
    pub created: u64,
    /// The operation it undoes, e.g. "physpath set --device-id 0".
    pub purpose: String,
    /// The targets, in the order they are written.
    pub targets: Vec<TargetRecord>,
}

/// What a journal range looks like on the target now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeState {
    /// Holds the old bytes: never written, or already undone.
    Old,
    /// Holds the new bytes: the repair's write completed.
    New,
    /// Every sector holds either its old or its new bytes, but the range is
    /// neither wholly: a write interrupted part-way.
    Torn,
    /// At least one sector holds something else; `offset` is the first such
    /// absolute byte offset.
    Foreign {
        /// Absolute offset of the first foreign sector.
        offset: u64,
    },
}

/// Classifies `current` (the bytes now at `range.offset`) against a range.
pub fn classify(range: &Range, current: &[u8]) -> RangeState {
    if current == range.new.as_slice() {
        return RangeState::New;
    }
    if current == range.old.as_slice() {
        return RangeState::Old;
    }
    if current.len() != range.old.len() {
        return RangeState::Foreign {
            offset: range.offset,
        };
    }
    let mut pos = 0usize;
    while pos < current.len() {
        let abs = range.offset + pos as u64;
        let step = (SECTOR - abs % SECTOR) as usize;
        let end = (pos + step).min(current.len());
        let cur = &current[pos..end];
        if cur != &range.old[pos..end] && cur != &range.new[pos..end] {
            return RangeState::Foreign { offset: abs };
        }
        pos = end;
    }
    RangeState::Torn
}

impl Journal {
    /// Checks the structural rules `decode` enforces, for a journal built in
    /// memory (so that nothing unreadable is ever written).
    pub fn validate(&self) -> Result<()> {
        let bad = |d: String| Err(Error::corrupt(STRUCTURE, 0, d));
        if self.targets.is_empty() || self.targets.len() > MAX_TARGETS as usize {
            return bad(format!(
                "{} targets (1..={MAX_TARGETS})",
                self.targets.len()
            ));
        }
        check_string("purpose", &self.purpose, 0)?;
        for t in &self.targets {
            check_string("target path", &t.path, 0)?;
            check_string("target identity", &t.identity, 0)?;
            if t.ranges.is_empty() || t.ranges.len() > MAX_RANGES as usize {
                return bad(format!(
                    "{}: {} ranges (1..={MAX_RANGES})",
                    t.path,
                    t.ranges.len()
                ));
            }
            let mut end_prev = 0u64;
            for (i, r) in t.ranges.iter().enumerate() {
                check_string("range description", &r.what, 0)?;
                if r.old.is_empty() || r.old.len() > MAX_RANGE_LEN as usize {
                    return bad(format!("range at {:#x}: length {}", r.offset, r.old.len()));
                }
                if r.new.len() != r.old.len() {
                    return bad(format!("range at {:#x}: old/new lengths differ", r.offset));
                }
                let end = r.offset.checked_add(r.old.len() as u64);
                match end {
                    Some(e) if e <= t.size && (i == 0 || r.offset >= end_prev) => end_prev = e,
                    _ => {
                        return bad(format!(
                            "range at {:#x} overlaps its predecessor or leaves the target",
                            r.offset
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Serialises the journal (see `formats/undo-journal.md`).
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.targets.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.created.to_le_bytes());
        put_string(&mut out, &self.purpose);
        for t in &self.targets {
            put_string(&mut out, &t.path);
            put_string(&mut out, &t.identity);
            out.extend_from_slice(&t.size.to_le_bytes());
            out.extend_from_slice(&(t.ranges.len() as u32).to_le_bytes());
            for r in &t.ranges {
                out.extend_from_slice(&r.offset.to_le_bytes());
                out.extend_from_slice(&(r.old.len() as u32).to_le_bytes());
                put_string(&mut out, &r.what);
                out.extend_from_slice(&r.old);
                out.extend_from_slice(&r.new);
            }
        }
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    /// Decodes and validates a journal. Never panics; every error names the
    /// byte offset in the journal.
    pub fn decode(bytes: &[u8]) -> Result<Journal> {
        if bytes.len() < MAGIC.len() + 32 {
            return Err(Error::corrupt(
                STRUCTURE,
                0,
                format!("{} bytes is too short for a journal", bytes.len()),
            ));
        }
        if bytes[..8] != MAGIC {
            return Err(Error::corrupt(
                STRUCTURE,
                0,
                "bad magic (not a kzrescue undo journal)",
            ));
        }
        let body_len = bytes.len() - 32;
        let digest = Sha256::digest(&bytes[..body_len]);
        if digest.as_slice() != &bytes[body_len..] {
            return Err(Error::corrupt(
                STRUCTURE,
                body_len as u64,
                "journal checksum (SHA-256) mismatch: the file is damaged or truncated",
            ));
        }
        let mut c = Cursor {
            buf: &bytes[..body_len],
            pos: 8,
        };
        let version = c.u32("version")?;
        if version != VERSION {
            return Err(Error::corrupt(
                STRUCTURE,
                8,
                format!("version {version} (this kzrescue reads {VERSION})"),
            ));
        }
        let at = c.pos;
        let ntargets = c.u32("target count")?;
        if ntargets == 0 || ntargets > MAX_TARGETS {
            return Err(Error::corrupt(
                STRUCTURE,
                at as u64,
                format!("{ntargets} targets (1..={MAX_TARGETS})"),
            ));
        }
        let created = c.u64("creation time")?;
        let purpose = c.string("purpose")?;
        let mut targets = Vec::new();
        for _ in 0..ntargets {
            let path = c.string("target path")?;
            let identity = c.string("target identity")?;
            let size = c.u64("target size")?;
            let at = c.pos;
            let nranges = c.u32("range count")?;
            if nranges == 0 || nranges > MAX_RANGES {
                return Err(Error::corrupt(
                    STRUCTURE,
                    at as u64,
                    format!("{nranges} ranges (1..={MAX_RANGES})"),
                ));
            }
            let mut ranges = Vec::new();
            let mut end_prev = 0u64;
            for i in 0..nranges {
                let at = c.pos as u64;
                let offset = c.u64("range offset")?;
                let len = c.u32("range length")?;
                if len == 0 || len > MAX_RANGE_LEN {
                    return Err(Error::corrupt(
                        STRUCTURE,
                        at + 8,
                        format!("range length {len} (1..={MAX_RANGE_LEN})"),
                    ));
                }
                let end = offset.checked_add(u64::from(len));
                match end {
                    Some(e) if e <= size && (i == 0 || offset >= end_prev) => end_prev = e,
                    _ => {
                        return Err(Error::corrupt(
                            STRUCTURE,
                            at,
                            format!(
                                "range {offset:#x}+{len:#x} overlaps its predecessor or \
                                 leaves the {size}-byte target"
                            ),
                        ));
                    }
                }
                let what = c.string("range description")?;
                let old = c.bytes(len as usize, "old bytes")?.to_vec();
                let new = c.bytes(len as usize, "new bytes")?.to_vec();
                ranges.push(Range {
                    offset,
                    what,
                    old,
                    new,
                });
            }
            targets.push(TargetRecord {
                path,
                identity,
                size,
                ranges,
            });
        }
        if c.pos != body_len {
            return Err(Error::corrupt(
                STRUCTURE,
                c.pos as u64,
                format!("{} unexpected bytes before the checksum", body_len - c.pos),
            ));
        }
        Ok(Journal {
            created,
            purpose,
            targets,
        })
    }

    /// Reads and decodes the journal file at `path`.
    pub fn read(path: &Path) -> Result<Journal> {
        let shown = path.display();
        // a regular file only, capped on the bytes read (a device reports size 0)
        let bytes = crate::input::read_bounded(path, "undo journal", MAX_JOURNAL, false)?;
        Journal::decode(&bytes).map_err(|e| match e {
            Error::Corrupt { offset, detail, .. } => Error::Corrupt {
                structure: format!("undo journal {shown}"),
                offset,
                detail,
            },
            other => other,
        })
    }

    /// Creates `path` (which must not exist) with mode 0600, writes the
    /// journal, fsyncs the file and its directory, and reads it back. On any
    /// failure the partial file is removed and the error returned: the caller
    /// must then not write to the target.
    pub fn write_new(&self, path: &Path) -> Result<()> {
        let bytes = self.encode()?;
        let shown = path.display().to_string();
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::io(format!("create undo journal {shown}"), e))?;
        let written = file
            .write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(format!("write undo journal {shown}"), e))
            .and_then(|()| sync_parent(path))
            .and_then(|()| {
                let back = std::fs::read(path)
                    .map_err(|e| Error::io(format!("read back undo journal {shown}"), e))?;
                if back != bytes {
                    return Err(Error::corrupt(
                        format!("undo journal {shown}"),
                        0,
                        "read-back differs from what was written",
                    ));
                }
                Ok(())
            });
        drop(file);
        if written.is_err() {
            let _ = std::fs::remove_file(path);
            let _ = sync_parent(path);
        }
        written
    }

    /// Total bytes of all ranges of all targets.
    pub fn bytes(&self) -> u64 {
        self.targets
            .iter()
            .flat_map(|t| &t.ranges)
            .map(|r| r.len() as u64)
            .sum()
    }
}

/// Fsyncs the directory holding `path`, so that the new name is durable.
fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("fsync directory {}", dir.display()), e))
}

fn check_string(what: &str, s: &str, offset: u64) -> Result<()> {
    if s.len() > MAX_STRING as usize {
        return Err(Error::corrupt(
            STRUCTURE,
            offset,
            format!("{what} is {} bytes (at most {MAX_STRING})", s.len()),
        ));
    }
    Ok(())
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    // Lengths were checked by `validate`.
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A bounds-checked reader over the journal body.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(Error::corrupt(
                STRUCTURE,
                self.pos as u64,
                format!("{what}: {n} bytes run past the end of the journal"),
            )),
        }
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn string(&mut self, what: &str) -> Result<String> {
        let at = self.pos as u64;
        let n = self.u16(what)?;
        if n > MAX_STRING {
            return Err(Error::corrupt(
                STRUCTURE,
                at,
                format!("{what} length {n} (at most {MAX_STRING})"),
            ));
        }
        let b = self.bytes(n as usize, what)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| Error::corrupt(STRUCTURE, at + 2, format!("{what} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Journal {
        Journal {
            created: 1_790_000_000,
            purpose: "physpath set --device-id 0".into(),
            targets: vec![TargetRecord {
                path: "/images/kz0.img".into(),
                identity: "dev=0x803,ino=12".into(),
                size: 1 << 20,
                ranges: vec![
                    Range {
                        offset: 0x4000,
                        what: "label 0".into(),
                        old: vec![1; 1024],
                        new: vec![2; 1024],
                    },
                    Range {
                        offset: 0x8000,
                        what: "label 1".into(),
                        old: vec![3; 600],
                        new: vec![4; 600],
                    },
                ],
            }],
        }
    }

    #[test]
    fn round_trip() {
        let j = sample();
        let b = j.encode().unwrap();
        assert_eq!(&b[..8], b"KZJRNL\r\n");
        assert_eq!(Journal::decode(&b).unwrap(), j);
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let b = sample().encode().unwrap();
        for i in (0..b.len()).step_by(97) {
            let mut c = b.clone();
            c[i] ^= 0x40;
            assert!(Journal::decode(&c).is_err(), "flip at {i} accepted");
        }
        for n in [0, 7, 8, 40, b.len() - 1] {
            assert!(Journal::decode(&b[..n]).is_err());
        }
    }

    #[test]
    fn overlapping_ranges_are_not_encoded() {
        let mut j = sample();
        j.targets[0].ranges[1].offset = 0x4100;
        assert!(j.encode().is_err());
        let mut j = sample();
        j.targets[0].ranges[1].offset = (1 << 20) - 10;
        assert!(j.encode().is_err());
    }

    #[test]
    fn classify_sees_torn_and_foreign_sectors() {
        let r = Range {
            offset: 0x4000,
            what: String::new(),
            old: vec![1; 2048],
            new: vec![2; 2048],
        };
        assert_eq!(classify(&r, &[1; 2048]), RangeState::Old);
        assert_eq!(classify(&r, &[2; 2048]), RangeState::New);
        let mut torn = vec![1u8; 2048];
        torn[..512].fill(2);
        assert_eq!(classify(&r, &torn), RangeState::Torn);
        torn[1000] = 9;
        assert_eq!(
            classify(&r, &torn),
            RangeState::Foreign {
                offset: 0x4000 + 512
            }
        );
    }

    #[test]
    fn write_new_is_0600_and_refuses_to_overwrite() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.kzj");
        sample().write_new(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Journal::read(&p).unwrap(), sample());
        assert!(sample().write_new(&p).is_err());
        assert_eq!(Journal::read(&p).unwrap(), sample());
    }

    proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Journal::decode(&data);
        }

        #[test]
        fn decode_never_panics_on_resealed_mutations(
            idx in 0usize..2000, val in any::<u8>(), cut in 0usize..2000
        ) {
            // Mutate the body and re-seal it, so that the parser itself (not
            // just the checksum) sees hostile input.
            let mut b = sample().encode().unwrap();
            b.truncate(b.len() - 32);
            if idx < b.len() { b[idx] = val; }
            if cut < b.len() && cut > 8 { b.truncate(cut); }
            let d = Sha256::digest(&b);
            b.extend_from_slice(&d);
            let _ = Journal::decode(&b);
        }
    }
}
