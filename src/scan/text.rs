//! The text of `kzrescue scan`: a [`ScanReport`] for a person.

use super::{FoundVdev, ScanReport, TableMatch};
use std::fmt::Write;

/// `-` for nothing, else the value.
fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("-".into(), |x| x.to_string())
}

impl ScanReport {
    /// The report as `kzrescue scan` prints it for `target`: the totals, the
    /// table, one paragraph per vdev, the Sun labels and the bounds hit.
    pub fn text(&self, target: &str) -> String {
        let mut s = String::new();
        let r = self;
        // writing into a String cannot fail
        let _ = writeln!(
            s,
            "{target}: {} bytes scanned, {} label candidate(s), {} verified, {} unverified",
            r.bytes_read,
            r.candidates,
            r.labels.len(),
            r.unverified
        );
        let _ = match (&r.table_kind, &r.table_error) {
            (Some(k), _) => writeln!(s, "partition table: {k}"),
            (None, Some(e)) => writeln!(s, "partition table: unreadable ({e})"),
            (None, None) => writeln!(s, "partition table: -"),
        };
        for n in &r.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        if r.vdevs.is_empty() {
            s.push_str("no ZFS vdev label verified anywhere on the device\n");
        }
        for (i, v) in r.vdevs.iter().enumerate() {
            v.write_text(i, &mut s);
        }
        for l in &r.sun_labels {
            let _ = writeln!(
                s,
                "{} label at {:#x}: {} cylinders ({} data + {} alternate) × {} heads × {} sectors{}",
                if l.x86 { "x86 VTOC" } else { "Sun" },
                l.at,
                l.pcyl,
                l.ncyl,
                l.acyl,
                l.nhead,
                l.nsect,
                if l.primary {
                    " (primary, sector 0)"
                } else if l.backup_position {
                    " (backup copy, where Solaris keeps one)"
                } else if l.x86 {
                    " (in a Solaris fdisk partition: the primary in its sector 1, or a backup on its last track)"
                } else {
                    ""
                }
            );
        }
        for l in &r.limits_hit {
            let _ = writeln!(s, "LIMIT: {l}");
        }
        s
    }

    /// The `kzrescue.scan/2` document (without its `schema`): the report
    /// with the `target` as given.
    pub fn json(&self, target: &str) -> serde_json::Value {
        let mut doc = serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}));
        doc["target"] = serde_json::json!(target);
        doc
    }
}

impl FoundVdev {
    /// Appends vdev `i` of a report, for a person, to `s`.
    fn write_text(&self, i: usize, s: &mut String) {
        let (v, f) = (self, &self.facts);
        s.push('\n');
        let _ = writeln!(
            s,
            "vdev {i}: start {:#x} ({} bytes), end {}, size {} (from {})",
            v.start,
            v.start,
            v.end.map_or("unknown".into(), |e| format!("{e:#x}")),
            opt(&v.psize),
            v.size_from
                .as_deref()
                .unwrap_or("nothing: no back label, no asize")
        );
        let labels: Vec<String> = v.labels.iter().map(|l| l.to_string()).collect();
        let _ = writeln!(
            s,
            "  labels verified: {}{}{}",
            if labels.is_empty() {
                "-".to_string()
            } else {
                labels.join(" ")
            },
            if v.back_labels_unplaced > 0 {
                format!(" (+{} back label(s) 2-or-3)", v.back_labels_unplaced)
            } else {
                String::new()
            },
            if v.labels_agree {
                ""
            } else {
                " (their configs differ)"
            }
        );
        let _ = writeln!(
            s,
            "  pool {} guid {}  vdev guid {}  top guid {}",
            opt(&f.name),
            opt(&f.pool_guid),
            opt(&f.guid),
            opt(&f.top_guid)
        );
        let _ = writeln!(
            s,
            "  txg {}  state {}  version {}  type {}  asize {}  ashift {}",
            opt(&f.txg),
            opt(&f.state),
            opt(&f.version),
            opt(&f.vdev_type),
            opt(&f.asize),
            opt(&f.ashift)
        );
        let _ = writeln!(
            s,
            "  hostid {}  hostname {}",
            f.hostid.map_or("-".into(), |h| format!("{h:#x}")),
            opt(&f.hostname)
        );
        let _ = writeln!(
            s,
            "  path {}  phys_path {}  devid {}",
            opt(&f.path),
            opt(&f.phys_path),
            opt(&f.devid)
        );
        let _ = match &v.table {
            TableMatch::Matches { slice, len } => {
                writeln!(s, "  table: s{slice} starts here ({len} bytes): agrees")
            }
            TableMatch::SizeDiffers { slice, len } => writeln!(
                s,
                "  table: s{slice} starts here but is {len} bytes: DISAGREES with the labels"
            ),
            TableMatch::NoSliceHere { overlapping } => writeln!(
                s,
                "  table: no slice starts here: DISAGREES (overlapping: {})",
                if overlapping.is_empty() {
                    "none".to_string()
                } else {
                    overlapping.join(", ")
                }
            ),
            TableMatch::NoTable => writeln!(s, "  table: none describes it"),
        };
        if let Some(p) = &v.proposed_gpt {
            let _ = writeln!(
                s,
                "  would be: GPT s{} {} ({}) LBAs {}..{} at {} bytes/sector — {}",
                p.slice, p.type_name, p.type_guid, p.first_lba, p.last_lba, p.sector_size, p.why
            );
        }
    }
}
