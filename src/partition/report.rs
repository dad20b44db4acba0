//! What `kzrescue partitions` reports about a disk: its partition table
//! and the pool slice `kzrescue label` would use, or why none was chosen.

use super::{PartitionTable, TableKind};
use crate::error::Result;
use crate::source::Source;
use serde_json::json;
use std::fmt::Write;

/// A disk's partition table with the pool slice chosen.
#[derive(Debug)]
pub struct TableReport {
    /// The disk's name.
    pub target: String,
    /// The table as read.
    pub table: PartitionTable,
    /// The slice holding the pool (`slice` when given, else the one ZFS
    /// slice); `Ok(None)` without a partition table (a whole-device vdev);
    /// the error says why none was chosen.
    pub pool_slice: Result<Option<u32>>,
}

impl TableReport {
    /// The `schema` of its JSON document ([`TableReport::json`]).
    pub const SCHEMA: &str = "kzrescue.partitions/1";

    /// Reads the table of `disk` (`sector_size` assumed instead of
    /// detected when given) and picks the pool slice.
    pub fn read(disk: &dyn Source, sector_size: Option<u32>, slice: Option<u32>) -> Result<Self> {
        let table = super::read(disk, sector_size)?;
        let pool_slice = match (table.kind, slice) {
            (TableKind::None, _) => Ok(None),
            (_, Some(n)) => table.slice(n).map(|p| Some(p.slice)),
            (_, None) => table.zfs_slice().map(|p| Some(p.slice)),
        };
        Ok(TableReport {
            target: disk.name(),
            table,
            pool_slice,
        })
    }

    /// Whether the table has a problem it worked around (notes).
    pub fn has_notes(&self) -> bool {
        !self.table.notes.is_empty()
    }

    /// Whether `slice` is the pool slice.
    pub fn is_pool_slice(&self, slice: u32) -> bool {
        matches!(self.pool_slice, Ok(Some(s)) if s == slice)
    }

    /// The `kzrescue.partitions/1` document (schema in `cli/partitions.rs`'s
    /// documentation): LBAs in sectors of the table's sector size, starts
    /// and lengths in bytes.
    pub fn json(&self) -> serde_json::Value {
        let t = &self.table;
        let ss = t.sector_size;
        let parts: Vec<_> = t
            .partitions
            .iter()
            .map(|p| {
                json!({
                    "index": p.index,
                    "slice": p.slice,
                    "letter": p.letter.to_string(),
                    "start": p.start,
                    "len": p.len,
                    "first_lba": p.first_lba(ss),
                    "last_lba": p.last_lba(ss),
                    "type_guid": p.type_guid,
                    "unique_guid": p.unique_guid,
                    "tag": p.tag,
                    "flags": p.flags,
                    "type_name": p.type_name,
                    "name": p.name,
                })
            })
            .collect();
        let mut v = json!({
            "target": self.target,
            "kind": t.kind,
            "sector_size": ss,
            "disk_size": t.disk_size,
            "notes": t.notes,
            "gpt": t.gpt,
            "vtoc": t.vtoc,
            "pool_slice": self.pool_slice.as_ref().ok().copied().flatten(),
            "partitions": parts,
        });
        if let Err(e) = &self.pool_slice {
            v["pool_slice_error"] = json!(e.to_string());
        }
        v
    }
}

impl TableReport {
    /// The report as `kzrescue partitions` prints it: one header line (table
    /// kind, sector size, device size), the GPT header or Sun label
    /// details, the notes and the pool slice, then one line per partition
    /// (the pool slice marked `*`).
    pub fn text(&self) -> String {
        let (name, t, pool) = (&self.target, &self.table, &self.pool_slice);
        let ss = t.sector_size;
        let mut s = String::new();
        // writing into a String cannot fail
        let _ = writeln!(
            s,
            "{name}: {}, {ss}-byte sectors, {} bytes ({})",
            t.kind,
            t.disk_size,
            human(t.disk_size)
        );
        if let Some(g) = &t.gpt {
            let _ = writeln!(
                s,
                "  disk GUID {}, {} entries of {} bytes at LBA {}, usable LBAs {}..{}",
                g.disk_guid,
                g.num_entries,
                g.entry_size,
                g.entries_lba,
                g.first_usable_lba,
                g.last_usable_lba
            );
            let _ = writeln!(
                s,
                "  header at LBA {} ({}), alternate at LBA {}",
                g.header_lba,
                if g.used_backup { "backup" } else { "primary" },
                g.alternate_lba
            );
        }
        if let Some(v) = &t.vtoc {
            if let Some(f) = &v.fdisk {
                let _ = writeln!(
                    s,
                    "  fdisk partition p{} type {:#04x}{}: sectors {}..{}",
                    f.number,
                    f.kind,
                    if f.active { " (active)" } else { "" },
                    f.start_lba,
                    u64::from(f.start_lba) + u64::from(f.sectors) - 1
                );
            }
            let _ = writeln!(
                s,
                "  label at byte {:#x}: {:?}, volume {:?}, {} cylinders ({} alternate), {} heads, {} sectors/track",
                v.label_offset, v.ascii_label, v.volume, v.ncyl, v.acyl, v.nhead, v.nsect
            );
        }
        for n in &t.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        let _ = match pool {
            Ok(Some(n)) => writeln!(s, "  pool slice: s{n} (marked *)"),
            Ok(None) => writeln!(s, "  no partition table: the whole device is the vdev"),
            Err(e) => writeln!(s, "  pool slice: not chosen: {e}"),
        };
        if t.partitions.is_empty() {
            return s;
        }
        let _ = writeln!(
            s,
            "  {:<6} {:<5} {:>12} {:>12} {:>10}  {:<12} {:<36}  name",
            "slice", "minor", "start LBA", "end LBA", "size", "type", "type GUID / tag"
        );
        for p in &t.partitions {
            let mark = if self.is_pool_slice(p.slice) {
                "*"
            } else {
                " "
            };
            let ty = match &p.type_guid {
                Some(g) => g.clone(),
                None => format!("tag {:#04x} flags {:#04x}", p.tag, p.flags),
            };
            let _ = writeln!(
                s,
                "{mark} {:<6} {:<5} {:>12} {:>12} {:>10}  {:<12} {:<36}  {}",
                p.label(),
                p.letter,
                p.first_lba(ss),
                p.last_lba(ss),
                human(p.len),
                p.type_name,
                ty,
                p.name
            );
        }
        s
    }
}

/// Bytes in binary units, one decimal.
fn human(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;

    #[test]
    fn a_bare_vdev_has_no_table_and_the_whole_device_as_pool() {
        let bytes = vec![0u8; 4 << 20];
        let disk = MemSource::new(&bytes);
        let r = TableReport::read(&disk, None, None).unwrap();
        assert_eq!(r.table.kind, TableKind::None);
        assert!(matches!(r.pool_slice, Ok(None)));
        assert!(!r.is_pool_slice(0));
        let v = r.json();
        assert_eq!(v["kind"], "none");
        assert_eq!(v["pool_slice"], serde_json::Value::Null);
        assert_eq!(v["partitions"], json!([]));
        let text = r.text();
        assert!(
            text.contains(", 512-byte sectors, 4194304 bytes (4.0 MiB)\n"),
            "{text}"
        );
        assert!(text.ends_with("  no partition table: the whole device is the vdev\n"));
    }
}
