//! The one place in kzrescue that writes to a target.
//!
//! [`apply`] takes a plan — per target, phases of writes — and carries it out
//! in the only safe way: check every target is writable and still holds the
//! bytes the plan was made from; drop writes that change nothing; save every
//! range about to be overwritten to an undo journal (fsynced); then per phase
//! write each range, flush, read every range back and compare, before the
//! next phase starts. [`undo`] puts a journal's old bytes back the same way,
//! one range at a time.

use super::journal::{self, Journal, Range, RangeState, TargetRecord};
use crate::error::{Error, Result};
use crate::source::{SharedSource, Source};
use std::path::{Path, PathBuf};

/// One write of a plan: `new` replaces `old` at `offset` of the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// Absolute byte offset on the target source.
    pub offset: u64,
    /// What is written, e.g. "s1 label 2 vdev_phys".
    pub what: String,
    /// The bytes the plan was computed from (checked again before writing).
    pub old: Vec<u8>,
    /// The bytes to write.
    pub new: Vec<u8>,
}

/// All writes for one target, in phases. A phase is written, flushed and read
/// back completely before the next one starts.
pub struct TargetPlan {
    /// How to reopen the target for `undo` (recorded in the journal).
    pub path: String,
    /// The target, opened for writing.
    pub source: SharedSource,
    /// The phases, in order.
    pub phases: Vec<Vec<Write>>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every write would have put back the bytes already there: nothing was
    /// written and no journal was made.
    Unchanged,
    /// The plan was carried out.
    Applied {
        /// The undo journal written first.
        journal: PathBuf,
        /// Number of writes.
        writes: usize,
        /// Bytes written.
        bytes: u64,
    },
}

/// Environment variable the CLI reads the crash tests' pause point from
/// (`K:MARKER`, see [`PausePoint::parse`]); the library never reads it.
pub const PAUSE_ENV: &str = "KZRESCUE_TEST_PAUSE_AFTER_WRITE";

/// The crash tests' pause point: the writer creates the file `marker` right
/// after its `after_write`-th write (before the flush) and then sleeps, so
/// that a test can SIGKILL a real process there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PausePoint {
    /// The write (counted from 1) after which to pause.
    pub after_write: usize,
    /// The file created when the pause begins.
    pub marker: PathBuf,
}

impl PausePoint {
    /// The pause point `K:MARKER` names; `None` when it is not that form.
    pub fn parse(v: &str) -> Option<PausePoint> {
        let (k, marker) = v.split_once(':')?;
        Some(PausePoint {
            after_write: k.parse().ok()?,
            marker: PathBuf::from(marker),
        })
    }
}

/// Carries out `plans`, saving the undo journal to `journal_path` (which must
/// not exist) first. `purpose` is recorded in the journal.
pub fn apply(plans: &[TargetPlan], journal_path: &Path, purpose: &str) -> Result<Outcome> {
    apply_paused(plans, journal_path, purpose, None)
}

/// [`apply`], pausing at `pause` (the crash tests').
pub fn apply_paused(
    plans: &[TargetPlan],
    journal_path: &Path,
    purpose: &str,
    pause: Option<&PausePoint>,
) -> Result<Outcome> {
    let plans = prepare(plans)?;
    if plans
        .iter()
        .all(|p| p.phases.iter().all(|ph| ph.is_empty()))
    {
        return Ok(Outcome::Unchanged);
    }
    let record = Journal {
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        purpose: purpose.to_string(),
        targets: plans
            .iter()
            .filter(|p| p.phases.iter().any(|ph| !ph.is_empty()))
            .map(|p| {
                let mut ranges: Vec<Range> = p
                    .phases
                    .iter()
                    .flatten()
                    .map(|w| Range {
                        offset: w.offset,
                        what: w.what.clone(),
                        old: w.old.clone(),
                        new: w.new.clone(),
                    })
                    .collect();
                ranges.sort_by_key(|r| r.offset);
                TargetRecord {
                    path: p.path.clone(),
                    identity: p.source.identity(),
                    size: p.source.size(),
                    ranges,
                }
            })
            .collect(),
    };
    record.write_new(journal_path)?;
    let hint = format!(
        "; the target may be partly written: `kzrescue undo {} --write` restores it",
        journal_path.display()
    );
    let (writes, bytes) = write_phases(&plans, &hint, pause)?;
    Ok(Outcome::Applied {
        journal: journal_path.to_path_buf(),
        writes,
        bytes,
    })
}

/// Carries out `plans` without an undo journal: for `undo` itself, whose
/// journal already holds every byte it writes. Checks the plans like
/// [`apply`]; `on_failure` is appended to an error after the first write.
/// Returns (writes, bytes); (0, 0) when nothing needed writing. Pauses at
/// `pause` (the crash tests').
pub fn apply_unjournalled(
    plans: &[TargetPlan],
    on_failure: &str,
    pause: Option<&PausePoint>,
) -> Result<(usize, u64)> {
    let plans = prepare(plans)?;
    write_phases(&plans, on_failure, pause)
}

/// The write step shared by [`apply`] and [`apply_unjournalled`]: per
/// phase, every write, one flush, every read-back (from the device).
fn write_phases(
    plans: &[TargetPlan],
    on_failure: &str,
    pause: Option<&PausePoint>,
) -> Result<(usize, u64)> {
    // Every write in the order it is made, for the progress report of a failure.
    let order: Vec<(&str, &Write)> = plans
        .iter()
        .flat_map(|p| p.phases.iter().flatten().map(|w| (p.path.as_str(), w)))
        .collect();
    let mut progress = Progress {
        order: &order,
        verified: 0,
        acked: 0,
    };
    let fail = |e: Error| append(e, on_failure);
    let mut bytes = 0u64;
    for plan in plans {
        let src = plan.source.as_ref();
        for phase in plan.phases.iter().filter(|ph| !ph.is_empty()) {
            for w in phase {
                src.write_at(w.offset, &w.new)
                    .map_err(|e| fail(progress.note(e, Stage::Write)))?;
                progress.acked += 1;
                bytes += w.new.len() as u64;
                if let Some(p) = pause
                    && p.after_write == progress.acked
                {
                    let _ = std::fs::write(&p.marker, b"paused\n");
                    std::thread::sleep(std::time::Duration::from_secs(30));
                }
            }
            src.flush()
                .map_err(|e| fail(progress.note(e, Stage::Flush)))?;
            for (i, w) in phase.iter().enumerate() {
                verify(src, w.offset, &w.new, &w.what)
                    .map_err(|e| fail(progress.note(e, Stage::ReadBack(i))))?;
            }
            progress.verified = progress.acked;
        }
    }
    Ok((progress.acked, bytes))
}

/// Which step of a phase failed.
#[derive(Clone, Copy)]
enum Stage {
    /// The next write.
    Write,
    /// The flush after the phase's writes.
    Flush,
    /// The read-back of the phase's i-th write.
    ReadBack(usize),
}

/// How far [`apply`] got, counted over all targets' writes in order: the
/// first `verified` are written, flushed and read back; those up to `acked`
/// were acknowledged by the target but not yet flushed or checked.
struct Progress<'a> {
    order: &'a [(&'a str, &'a Write)],
    verified: usize,
    acked: usize,
}

impl Progress<'_> {
    /// Names writes `a..b` (0-based, half open) of the order; a target's
    /// name is given once, before the first of its writes.
    fn names(&self, a: usize, b: usize) -> String {
        let mut last: Option<&str> = None;
        let n: Vec<String> = self.order[a..b]
            .iter()
            .map(|(path, w)| {
                let rest = w.what.strip_prefix(path).map(str::trim_start);
                let named = last == Some(*path);
                last = Some(path);
                match rest {
                    Some(r) if named => r.to_string(),
                    Some(r) => format!("{path}: {r}"),
                    None => w.what.clone(),
                }
            })
            .collect();
        let which = if b - a == 1 {
            format!("write {}", b)
        } else {
            format!("writes {}-{b}", a + 1)
        };
        format!("{which} of {} ({})", self.order.len(), n.join(", "))
    }

    /// Adds to `e` which writes are done, which failed or are in doubt, and
    /// which were never attempted.
    fn note(&self, e: Error, stage: Stage) -> Error {
        let total = self.order.len();
        let mut parts = Vec::new();
        if self.verified > 0 {
            parts.push(format!(
                "{} written, flushed and read back",
                self.names(0, self.verified)
            ));
        }
        let next = match stage {
            Stage::Write => {
                if self.acked > self.verified {
                    parts.push(format!(
                        "{} acknowledged, not yet flushed",
                        self.names(self.verified, self.acked)
                    ));
                }
                parts.push(format!("{} failed", self.names(self.acked, self.acked + 1)));
                self.acked + 1
            }
            Stage::Flush => {
                parts.push(format!(
                    "{} acknowledged but the flush after them failed",
                    self.names(self.verified, self.acked)
                ));
                self.acked
            }
            Stage::ReadBack(i) => {
                let bad = self.verified + i;
                parts.push(format!(
                    "{} acknowledged and flushed; reading back {} failed",
                    self.names(self.verified, self.acked),
                    self.names(bad, bad + 1)
                ));
                self.acked
            }
        };
        if next < total {
            parts.push(format!("{} not attempted", self.names(next, total)));
        }
        append(e, &format!("; progress: {}", parts.join("; ")))
    }
}

/// Checks plans against their targets as [`apply`] does before anything is
/// written: lengths, bounds, overlaps, one target given once, the bytes each
/// plan was made from still on the device, the target writable when a write
/// changes something. Writes nothing.
pub fn check_plans(plans: &[TargetPlan]) -> Result<()> {
    prepare_as(plans, true).map(|_| ())
}

/// [`check_plans`] for a dry run: every check but the target being open
/// for writing (a dry run opens nothing for writing).
pub fn check_plans_dry(plans: &[TargetPlan]) -> Result<()> {
    prepare_as(plans, false).map(|_| ())
}

/// Checks plans against their (writable) targets and returns them without
/// the writes that change nothing.
fn prepare(plans: &[TargetPlan]) -> Result<Vec<TargetPlan>> {
    prepare_as(plans, true)
}

/// Checks plans against their targets and returns them without the writes
/// that change nothing; `writable`: a target with writes must be open for
/// writing.
fn prepare_as(plans: &[TargetPlan], writable: bool) -> Result<Vec<TargetPlan>> {
    let mut out = Vec::new();
    let mut identities: Vec<String> = Vec::new();
    for p in plans {
        let src = p.source.as_ref();
        let id = src.identity();
        if identities.contains(&id) {
            return Err(Error::Usage(format!(
                "{} is given twice (same device as an earlier target)",
                p.path
            )));
        }
        identities.push(id);
        let mut spans: Vec<(u64, u64)> = Vec::new();
        let mut phases = Vec::new();
        for phase in &p.phases {
            let mut kept = Vec::new();
            for w in phase {
                if w.old.len() != w.new.len() || w.new.is_empty() {
                    return Err(Error::Usage(format!(
                        "plan for {} at {:#x} ({}): old and new lengths differ",
                        p.path, w.offset, w.what
                    )));
                }
                let end = w.offset.checked_add(w.new.len() as u64);
                if end.is_none_or(|e| e > src.size()) {
                    return Err(Error::OutOfBounds {
                        what: format!("{} ({})", src.name(), w.what),
                        offset: w.offset,
                        len: w.new.len() as u64,
                        size: src.size(),
                    });
                }
                let span = (w.offset, w.offset + w.new.len() as u64);
                if spans.iter().any(|&(a, b)| span.0 < b && a < span.1) {
                    return Err(Error::Usage(format!(
                        "plan for {} writes {:#x} ({}) twice",
                        p.path, w.offset, w.what
                    )));
                }
                spans.push(span);
                let current = read_device(src, w.offset, w.old.len())?;
                if current != w.old {
                    return Err(Error::Refused(format!(
                        "{} changed at {:#x} ({}) since it was read; nothing written, run again",
                        src.name(),
                        w.offset,
                        w.what
                    )));
                }
                if w.old != w.new {
                    kept.push(w.clone());
                }
            }
            phases.push(kept);
        }
        if writable && phases.iter().any(|ph| !ph.is_empty()) && !src.writable() {
            return Err(Error::Refused(format!(
                "{} is open read-only; nothing written",
                src.name()
            )));
        }
        out.push(TargetPlan {
            path: p.path.clone(),
            source: p.source.clone(),
            phases,
        });
    }
    Ok(out)
}

/// Reads `len` bytes at `offset` from the device, not from a host cache
/// (see [`Source::read_uncached`]).
fn read_device(src: &dyn Source, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    src.read_uncached(offset, &mut buf)?;
    Ok(buf)
}

/// Reads `expected.len()` bytes at `offset` from the device and requires
/// them to equal `expected`.
fn verify(src: &dyn Source, offset: u64, expected: &[u8], what: &str) -> Result<()> {
    let back = read_device(src, offset, expected.len())?;
    if back != expected {
        let first = back
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Err(Error::corrupt(
            format!("{} {what}", src.name()),
            offset + first as u64,
            "read-back differs from the bytes just written",
        ));
    }
    Ok(())
}

/// Appends `note` to the text of `e` (one line either way).
pub(crate) fn append(e: Error, note: &str) -> Error {
    super::annotate(e, "", note)
}

/// The state of every range of one journal target on its source now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoCheck {
    /// The journal's path for the target.
    pub path: String,
    /// Whether the source's identity equals the recorded one.
    pub identity_matches: bool,
    /// Per range (journal order): its description, offset, length and state.
    pub ranges: Vec<(String, u64, usize, RangeState)>,
}

impl UndoCheck {
    /// Number of ranges that `undo` would write.
    pub fn to_restore(&self) -> usize {
        self.ranges
            .iter()
            .filter(|r| r.3 != RangeState::Old)
            .count()
    }
}

/// Compares a journal's targets with `sources` (one per journal target, in
/// order). Refuses a size mismatch, a foreign sector (the target holds
/// neither the old nor the new bytes: another image, or changed since), and
/// an identity mismatch unless `ignore_identity`.
pub fn check_undo(
    journal: &Journal,
    sources: &[SharedSource],
    ignore_identity: bool,
) -> Result<Vec<UndoCheck>> {
    if sources.len() != journal.targets.len() {
        return Err(Error::Usage(format!(
            "the journal names {} targets, {} given",
            journal.targets.len(),
            sources.len()
        )));
    }
    let mut out = Vec::new();
    for (t, src) in journal.targets.iter().zip(sources) {
        if src.size() != t.size {
            return Err(Error::Refused(format!(
                "{} is {} bytes but the journal's target {} was {} bytes: not the same image",
                src.name(),
                src.size(),
                t.path,
                t.size
            )));
        }
        let identity_matches = src.identity() == t.identity;
        if !identity_matches && !ignore_identity {
            return Err(Error::Refused(format!(
                "{} is not the journal's target (identity {} ≠ recorded {}); \
                 --force accepts a copy whose bytes still match",
                src.name(),
                src.identity(),
                t.identity
            )));
        }
        let mut ranges = Vec::new();
        for r in &t.ranges {
            let cur = read_device(src.as_ref(), r.offset, r.len())?;
            let state = journal::classify(r, &cur);
            if let RangeState::Foreign { offset } = state {
                return Err(Error::Refused(format!(
                    "{} at {offset:#x} ({}) holds neither the journal's old nor its new bytes: \
                     a journal from another image, or the target changed since the repair",
                    src.name(),
                    r.what
                )));
            }
            ranges.push((r.what.clone(), r.offset, r.len(), state));
        }
        out.push(UndoCheck {
            path: t.path.clone(),
            identity_matches,
            ranges,
        });
    }
    Ok(out)
}

/// Restores every range of `journal` that does not hold its old bytes, one
/// range at a time (write, flush, read back). Returns the number restored.
pub fn undo(journal: &Journal, sources: &[SharedSource], ignore_identity: bool) -> Result<usize> {
    let checks = check_undo(journal, sources, ignore_identity)?;
    let pending: usize = checks.iter().map(|c| c.to_restore()).sum();
    let mut n = 0;
    for ((t, src), check) in journal.targets.iter().zip(sources).zip(&checks) {
        if check.to_restore() > 0 && !src.writable() {
            return Err(Error::Refused(format!("{} is open read-only", src.name())));
        }
        for (r, state) in t.ranges.iter().zip(check.ranges.iter().map(|c| c.3)) {
            if state == RangeState::Old {
                continue;
            }
            // A failure says how far undo got; running it again finishes
            // the job (restored ranges are recognised and skipped).
            let stopped = |e: Error, step: &str| {
                append(
                    e,
                    &format!(
                        "; undo stopped at the {step} of {} at {:#x}: {n} of {pending} \
                         range(s) restored before it, the rest may still hold the repair's \
                         bytes; run the same undo again to finish",
                        r.what, r.offset
                    ),
                )
            };
            src.write_at(r.offset, &r.old)
                .map_err(|e| stopped(e, "write"))?;
            src.flush().map_err(|e| stopped(e, "flush"))?;
            verify(src.as_ref(), r.offset, &r.old, &r.what).map_err(|e| stopped(e, "read-back"))?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::PausePoint;

    #[test]
    fn a_pause_point_is_count_colon_marker() {
        let p = PausePoint::parse("3:/tmp/a:b").unwrap();
        assert_eq!(p.after_write, 3);
        assert_eq!(p.marker, std::path::PathBuf::from("/tmp/a:b"));
        assert_eq!(PausePoint::parse("x:/m"), None);
        assert_eq!(PausePoint::parse("3"), None);
    }
}
