//! The text renderings of the forensic reports: the lines `kzrescue
//! timeline`, `changes` and `deleted` print (their JSON is the reports'
//! own `Serialize`). Every line ends in a newline.

use super::changes::{ChangeKind, ChangesReport, WindowEnd};
use super::deleted::{DeletedFile, DeletedReport, StateRef};
use super::history::When;
use super::objects::{BlockCheck, Integrity};
use super::timeline::{Timeline, TimelineState};
use crate::shell::quote;
use crate::time::{utc, utc_unsigned};
use crate::zfs::zpl::FileType;
use std::fmt::Write;

impl When {
    /// The txg's time as known: exact, or bracketed.
    pub fn text(&self) -> String {
        match (self.time, self.not_before, self.not_after) {
            (Some(t), _, _) => utc_unsigned(t),
            (None, Some(a), Some(b)) => {
                format!("between {} and {}", utc_unsigned(a), utc_unsigned(b))
            }
            (None, Some(a), None) => format!("after {}", utc_unsigned(a)),
            (None, None, Some(b)) => format!("before {}", utc_unsigned(b)),
            (None, None, None) => "time unknown".into(),
        }
    }
}

/// `txg N (time)`, or `-` when there is no such state.
fn txg_when(w: Option<When>) -> String {
    w.map(|w| format!("txg {} ({})", w.txg, w.text()))
        .unwrap_or_else(|| "-".into())
}

impl TimelineState {
    /// How far the state reads: `no`, `rootbp`, `all` or `partly`.
    fn reads(&self) -> &'static str {
        if !self.rootbp_verifies {
            "no"
        } else if !self.mos_reads {
            "rootbp"
        } else if self.datasets_unreadable.is_empty() {
            "all"
        } else {
            "partly"
        }
    }

    /// What changed since the previous readable state, in words.
    fn what(&self) -> String {
        let mut what = Vec::new();
        for c in &self.changed {
            what.push(format!("{} (objset birth {})", c.name, c.objset_birth));
        }
        let named = [
            ("+dataset", &self.datasets_created),
            ("-dataset", &self.datasets_destroyed),
            ("+snapshot", &self.snapshots_created),
            ("-snapshot", &self.snapshots_destroyed),
        ];
        for (sign, names) in named {
            what.extend(names.iter().map(|n| format!("{sign} {n}")));
        }
        match (self.compared_with, what.is_empty()) {
            (None, _) if self.mos_reads => "(oldest readable state)".to_string(),
            (None, _) => self.problem.clone().unwrap_or_default(),
            (Some(_), true) => "no dataset changed".to_string(),
            (Some(_), false) => what.join(", "),
        }
    }
}

impl Timeline {
    /// The text `kzrescue timeline` prints: the pool, how far back it
    /// reads, then one line per state, newest first.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Pool {} (guid {}, version {}) on {}",
            self.pool,
            self.pool_guid,
            self.version,
            self.devices.join(", ")
        );
        let _ = writeln!(
            s,
            "{} distinct uberblocks; head txg {}; readable back to {}; wholly readable back to {}",
            self.states.len(),
            self.head_txg,
            txg_when(self.readable_back_to),
            txg_when(self.fully_readable_back_to),
        );
        if self.bad_slots > 0 {
            let _ = writeln!(
                s,
                "{} uberblock slots fail their embedded checksum (not listed)",
                self.bad_slots
            );
        }
        let _ = writeln!(
            s,
            "\n{:>10}  {:<23}  {:>6}  {:<8}  changes since the previous readable state",
            "TXG", "TIME", "COPIES", "READS"
        );
        for t in &self.states {
            let _ = writeln!(
                s,
                "{:>10}  {:<23}  {:>6}  {:<8}  {}",
                t.txg,
                utc_unsigned(t.time),
                t.copies.len(),
                t.reads(),
                t.what()
            );
            for u in &t.datasets_unreadable {
                let _ = writeln!(s, "{:>10}  unreadable: {u}", "");
            }
        }
        if !self.older_snapshots.is_empty() {
            s.push_str("\nOlder than every uberblock, readable through snapshots:\n");
            for o in &self.older_snapshots {
                let _ = writeln!(
                    s,
                    "  {} (txg {}, {}){}",
                    o.name,
                    o.created.txg,
                    o.created.text(),
                    if o.readable { "" } else { " — does not read" }
                );
            }
        }
        s
    }
}

impl ChangeKind {
    /// The kind's word (as its JSON spells it).
    pub fn word(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Deleted => "deleted",
            ChangeKind::Content => "content",
            ChangeKind::Metadata => "metadata",
            ChangeKind::Renamed => "renamed",
            ChangeKind::Accessed => "accessed",
        }
    }
}

impl WindowEnd {
    /// `txg N (time), read from STATE`.
    fn text(&self) -> String {
        format!(
            "txg {} ({}){}",
            self.txg,
            self.when.text(),
            self.state
                .as_ref()
                .map(|s| format!(", read from {s}"))
                .unwrap_or_else(|| ", no state of it reads".into())
        )
    }
}

/// The line saying that failed reads hide what they hide.
fn not_verified(s: &mut String, errors: &[String]) {
    if !errors.is_empty() {
        let _ = writeln!(
            s,
            "  NOT VERIFIED: {} reads failed (on stderr); what they hide is not listed",
            errors.len()
        );
    }
}

impl ChangesReport {
    /// The text `kzrescue changes` prints: the window, the counts, then
    /// one line per changed object (and its hashes or error under it).
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Changes in {} (pool {} on {})",
            self.dataset,
            self.pool,
            self.devices.join(", ")
        );
        let _ = writeln!(s, "  after  {}", self.since.text());
        let _ = writeln!(s, "  up to  {}", self.until.text());
        let c = &self.counts;
        let _ = writeln!(
            s,
            "  {} objects: {} created, {} deleted, {} content, {} metadata, {} renamed, {} accessed only",
            self.changes.len(),
            c.created,
            c.deleted,
            c.content,
            c.metadata,
            c.renamed,
            c.accessed
        );
        let _ = writeln!(
            s,
            "  read: {} dnode blocks and {} indirect blocks born in the window; {} older subtrees skipped",
            self.dnode_blocks, self.indirect_blocks, self.pruned
        );
        not_verified(&mut s, &self.errors);
        let _ = writeln!(
            s,
            "\n{:<24} {:>10}  {:<23}  {:>8}  {:>10}  PATH",
            "WHAT", "TXG", "TIME", "OBJECT", "SIZE"
        );
        for ch in &self.changes {
            let what: Vec<&str> = ch.what.iter().map(|k| k.word()).collect();
            let t = match ch.when.time {
                Some(t) if ch.txg_exact => utc_unsigned(t),
                Some(t) => format!("by {}", utc_unsigned(t)),
                None => ch.when.text(),
            };
            let path = match (&ch.path, &ch.old_path) {
                (Some(p), Some(o)) => format!("{p} (was {o})"),
                (Some(p), None) => p.clone(),
                (None, Some(o)) => format!("{o} (deleted)"),
                (None, None) => format!("(object {}, no path)", ch.object),
            };
            let slash = ch.kind == FileType::Dir && !path.ends_with('/');
            let _ = writeln!(
                s,
                "{:<24} {:>9}{} {:<23}  {:>8}  {:>10}  {}{}",
                what.join(","),
                ch.txg,
                if ch.txg_exact { " " } else { "≤" },
                t,
                ch.object,
                ch.size,
                path,
                if slash { "/" } else { "" }
            );
            let under = [
                ("sha256 ", &ch.sha256),
                ("before ", &ch.sha256_before),
                ("error: ", &ch.error),
            ];
            for (label, v) in under {
                if let Some(v) = v {
                    let _ = writeln!(s, "{:>26}{label}{v}", "");
                }
            }
        }
        s
    }
}

impl StateRef {
    /// `SNAPSHOT (txg N)`, or `txg N (time)`.
    fn text(&self) -> String {
        match &self.snapshot {
            Some(n) => format!("{n} (txg {})", self.txg),
            None => format!("txg {} ({})", self.txg, self.when.text()),
        }
    }
}

/// The verdict on a file's blocks, in words.
fn verdict(i: Integrity, b: &BlockCheck) -> String {
    match i {
        Integrity::Good => format!("good: {} blocks verified", b.verified + b.embedded),
        Integrity::Unverified => format!(
            "unverified: {} of {} blocks carry no checksum kzrescue computes",
            b.unverified, b.blocks
        ),
        Integrity::Damaged => format!(
            "DAMAGED: {} of {} blocks fail{}",
            b.bad,
            b.blocks,
            b.first_error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
    }
}

impl DeletedReport {
    /// The text `kzrescue deleted` prints: the states examined and the
    /// counts, then each deleted file and orphan with the `kzrescue export`
    /// command that recovers it from the devices `targets`.
    pub fn text(&self, targets: &[String]) -> String {
        let devs: Vec<String> = targets.iter().map(|t| quote(t)).collect();
        let devs = devs.join(" ");
        let mut s = self.summary();
        for d in &self.deleted {
            self.file(&mut s, d, &devs);
        }
        if !self.orphans.is_empty() {
            s.push_str("\nObjects no directory reaches:\n");
        }
        for o in &self.orphans {
            let _ = writeln!(
                s,
                "  object {} ({:?}, {} bytes, {} links, parent {}){}{}: {}",
                o.object,
                o.kind,
                o.size,
                o.links,
                o.parent,
                if o.in_delete_queue {
                    ", in the delete queue"
                } else {
                    ""
                },
                o.last_path
                    .as_ref()
                    .map(|p| format!(", was {p}"))
                    .unwrap_or_default(),
                verdict(o.integrity, &o.blocks)
            );
            let _ = writeln!(
                s,
                "    recover: kzrescue export {devs} {} --object {} --to DIR",
                quote(&self.dataset),
                o.object
            );
        }
        s
    }

    /// The head, the states examined, the counts.
    fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Deleted files of {} (pool {} on {})",
            self.dataset,
            self.pool,
            self.devices.join(", ")
        );
        let _ = writeln!(s, "  head: {}", self.head.text());
        let readable = self.states.iter().filter(|e| e.readable).count();
        let _ = writeln!(
            s,
            "  older states examined: {} ({} readable)",
            self.states.len(),
            readable
        );
        for e in &self.states {
            let found = match &e.problem {
                Some(p) => format!("does not read: {p}"),
                None => format!("{} deleted files first seen here", e.found),
            };
            let _ = writeln!(s, "    {}: {found}", e.state.text());
        }
        let c = &self.counts;
        let _ = writeln!(
            s,
            "  {} deleted: {} good, {} unverified, {} damaged; {} orphans",
            c.deleted, c.good, c.unverified, c.damaged, c.orphans
        );
        not_verified(&mut s, &self.errors);
        s
    }

    /// One deleted file's lines, with the command that recovers it.
    fn file(&self, s: &mut String, d: &DeletedFile, devs: &str) {
        let _ = writeln!(
            s,
            "\n{} (object {}, {:?}, {} bytes, mode {}, uid {} gid {})",
            d.path.as_deref().unwrap_or("(no path)"),
            d.object,
            d.kind,
            d.size,
            d.mode,
            d.uid,
            d.gid
        );
        let _ = writeln!(
            s,
            "  created txg {}, mtime {}, last seen {}, gone by {}",
            d.generation,
            utc(d.mtime),
            d.last_seen.text(),
            d.gone_by.text()
        );
        let _ = writeln!(s, "  {}", verdict(d.integrity, &d.blocks));
        let spec = match &d.last_seen.snapshot {
            Some(n) => quote(n),
            None => format!("{} --txg {}", quote(&self.dataset), d.last_seen.txg),
        };
        let _ = writeln!(
            s,
            "  recover: kzrescue export {devs} {spec} --object {} --to DIR",
            d.object
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_known() {
        let w = |time, not_before, not_after| When {
            txg: 7,
            time,
            not_before,
            not_after,
        };
        assert_eq!(w(Some(0), None, None).text(), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            w(None, Some(0), Some(1_000_000_000)).text(),
            "between 1970-01-01 00:00:00 UTC and 2001-09-09 01:46:40 UTC"
        );
        assert_eq!(w(None, None, None).text(), "time unknown");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("pool/fs@s"), "pool/fs@s");
    }
}
