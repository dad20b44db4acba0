//! What `kzrescue label repair` and `kzrescue partitions restore` report:
//! the plan, then what was written (or that it was a dry run, or that
//! nothing needed writing), as one JSON document
//! (`kzrescue.label-repair/2`, `kzrescue.partitions-restore/2`) and as text.

use super::{PlannedRelabel, PlannedRestore, bytes_changed};
use crate::partition::PartitionTable;
use crate::repair::transaction::Committed;
use serde_json::json;
use std::fmt::Write;

/// A writer's report, built up as the writer runs.
#[derive(Debug, Clone)]
pub struct RecoveryReport {
    /// The JSON document, its `schema` included.
    pub doc: serde_json::Value,
    /// The same for a person, one line per fact.
    pub text: String,
}

impl RecoveryReport {
    /// The plan of a label repair: per target its pool, the valid labels,
    /// the labels repaired and left alone, and every write.
    pub fn relabel(planned: &PlannedRelabel, reseal_only: bool) -> RecoveryReport {
        let (vdevs, plans) = (&planned.vdevs, &planned.plans);
        let targets = planned.targets.iter().zip(vdevs).zip(plans);
        let doc = json!({
            "schema": "kzrescue.label-repair/2",
            "reseal_only": reseal_only,
            "targets": targets.map(|((t, v), p)| json!({
                "target": t,
                "vdev": v.describe(),
                "pool": p.pool, "pool_guid": p.pool_guid, "guid": p.guid, "txg": p.txg,
                "valid_labels": p.valid, "source_label": p.source,
                "repaired": p.repaired.iter().map(|(l, why, what)| json!({"label": l, "problem": why, "action": what})).collect::<Vec<_>>(),
                "left": p.left.iter().map(|(l, why)| json!({"label": l, "reason": why})).collect::<Vec<_>>(),
                "edits": p.edits.iter().map(|e| json!({
                    "label": e.label,
                    "disk_offset": v.start() + e.offset,
                    "vdev_offset": e.offset, "len": e.new.len(),
                    "bytes_changed": bytes_changed(&e.old, &e.new), "what": e.what,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        let mut text = String::new();
        for (v, p) in vdevs.iter().zip(plans) {
            let valid: Vec<String> = p.valid.iter().map(|l| l.to_string()).collect();
            // writing into a String cannot fail
            let _ = writeln!(
                text,
                "{}: pool {} (pool_guid {}), vdev guid {}, txg {}; valid labels: {}",
                v.describe(),
                p.pool.as_deref().unwrap_or("-"),
                p.pool_guid.map_or("-".into(), |g| g.to_string()),
                p.guid.map_or("-".into(), |g| g.to_string()),
                p.txg.map_or("-".into(), |g| g.to_string()),
                if valid.is_empty() {
                    "none".to_string()
                } else {
                    valid.join(" ")
                }
            );
            for (l, why, what) in &p.repaired {
                let _ = writeln!(text, "  label {l}: {why} → {what}");
            }
            for (l, why) in &p.left {
                let _ = writeln!(text, "  label {l}: left alone: {why}");
            }
            for e in &p.edits {
                let _ = writeln!(
                    text,
                    "  write {:#x}+{:#x} ({} bytes change): {}",
                    v.start() + e.offset,
                    e.new.len(),
                    bytes_changed(&e.old, &e.new),
                    e.what
                );
            }
        }
        RecoveryReport { doc, text }
    }

    /// The plan of a partition table restore: what it restores, the
    /// entries, the notes and every write that changes bytes.
    pub fn restore(planned: &PlannedRestore) -> RecoveryReport {
        let (plan, target) = (&planned.plan, &planned.target);
        let mut text = String::new();
        for (i, line) in planned.describe().iter().enumerate() {
            let _ = if i == 0 {
                writeln!(text, "{target}: {line}")
            } else {
                writeln!(text, "  {line}")
            };
        }
        let writes = planned.changing_writes();
        let doc = json!({
            "schema": "kzrescue.partitions-restore/2",
            "target": target, "from": planned.from.as_str(), "sector_size": planned.sector_size,
            "summary": plan.summary, "entries": plan.entries, "notes": plan.notes,
            "writes": writes.iter().map(|w| json!({
                "offset": w.offset, "len": w.new.len(), "bytes_changed": bytes_changed(&w.old, &w.new), "what": w.what,
            })).collect::<Vec<_>>(),
        });
        RecoveryReport { doc, text }
    }

    /// Ends the report with `result`, the last text line given.
    fn result(&mut self, result: &str, line: &str) {
        self.doc["result"] = json!(result);
        self.text.push_str(line);
    }

    /// Nothing to write: `why`, no journal.
    pub(super) fn unchanged(&mut self, why: &str) {
        let line = format!("nothing to do: {why} (no journal, nothing written)\n");
        self.result("unchanged", &line);
    }

    /// A dry run: the plan stands, nothing written.
    pub(super) fn dry_run(&mut self) {
        self.result("dry-run", "");
    }

    /// What a committed transaction wrote (one line per group), its
    /// journal and liveness check.
    pub(super) fn committed(&mut self, c: &Committed) {
        for g in &c.groups {
            match &g.journal {
                Some(j) if g.writes > 0 => {
                    let _ = writeln!(
                        self.text,
                        "written: {} write(s), {} bytes, flushed and read back from the device; undo journal: {} (kzrescue undo {} --write restores)",
                        g.writes,
                        g.bytes,
                        j.display(),
                        j.display()
                    );
                    self.doc["journal"] = json!(j.display().to_string());
                }
                _ => self
                    .text
                    .push_str("nothing written: every byte was already as planned\n"),
            }
        }
        if let Some(q) = &c.liveness {
            self.doc["liveness"] =
                json!({"best_txg": q.best_txg, "interval_s": q.interval.as_secs_f64()});
        }
    }

    /// After a label repair: the labels still not valid, read back.
    pub(super) fn labels_after(&mut self, still_bad: &[String]) {
        self.doc["labels_not_valid_after"] = json!(still_bad);
        let line = if still_bad.is_empty() {
            String::new()
        } else {
            format!("labels still not valid: {}\n", still_bad.join("; "))
        };
        self.result("written", &line);
    }

    /// After a restore: the table as it reads now.
    pub(super) fn table_after(&mut self, t: &PartitionTable) {
        let _ = writeln!(
            self.text,
            "table now: {} with {} slice(s){}",
            t.kind,
            t.partitions.len(),
            if t.notes.is_empty() {
                String::new()
            } else {
                format!("; notes: {}", t.notes.join("; "))
            }
        );
        self.doc["table_notes_after"] = json!(t.notes);
        self.result("written", "");
    }
}
