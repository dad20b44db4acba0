//! What `diagnose` says about a boot device whose partition table or labels
//! are damaged: the exact `scan` / `partitions restore` / `label repair`
//! commands, decided from what survives on the device.

use crate::partition::{gpt, restore::RawHeader};
use crate::scan::{self, ScanOptions, TableMatch};
use crate::source::{Source, read_vec};

/// One piece of advice: what is wrong, and the command that fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    /// One sentence.
    pub message: String,
    /// The exact command (dry run by default; the admin adds `--write`).
    pub fix: Option<String>,
}

fn sh(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-:=@,+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command that rebuilds the bad labels of `spec`.
pub fn label_repair_command(spec: &str) -> String {
    format!("kzrescue label repair {} --write", sh(spec))
}

fn header_ok(src: &dyn Source, ss: u64, lba: u64) -> bool {
    read_vec(src, lba * ss, ss as usize)
        .ok()
        .and_then(|b| RawHeader::parse(&b))
        .is_some_and(|h| h.my_lba == lba)
}

/// Scans `spec` (a boot device whose table could not give the pool's
/// slice) and says what to run. Reads the whole device once.
pub fn advise(
    spec: &str,
    sector_size: Option<u32>,
    access: &crate::target::AccessOptions,
) -> Vec<Advice> {
    let q = sh(spec);
    let src = match scan::open_for_scan(spec, access) {
        Ok(s) => s,
        Err(e) => {
            return vec![Advice {
                message: format!("{spec} cannot be opened to scan it: {e}"),
                fix: None,
            }];
        }
    };
    let r = match scan::scan(src.as_ref(), ScanOptions { sector_size }, &mut |_, _| {}) {
        Ok(r) => r,
        Err(e) => {
            return vec![Advice {
                message: format!("scanning {spec} failed: {e}"),
                fix: None,
            }];
        }
    };
    let mut out = Vec::new();
    let pools: Vec<&scan::FoundVdev> = r
        .vdevs
        .iter()
        .filter(|v| v.facts.pool_guid.is_some())
        .collect();
    let Some(v) = pools.first() else {
        out.push(Advice {
            message: format!(
                "a scan of {spec} found no verified ZFS label at any sector: the pool's labels are gone from this device"
            ),
            fix: Some(format!("kzrescue scan {q}")),
        });
        return out;
    };
    let ss = u64::from(r.sector_size);
    let ss_arg = if ss == 4096 {
        " --sector-size 4096"
    } else {
        ""
    };
    let last = gpt::last_lba(src.as_ref(), r.sector_size).unwrap_or(0);
    let primary = header_ok(src.as_ref(), ss, 1);
    let backup = last > 1 && header_ok(src.as_ref(), ss, last);
    let sun_backup = r.sun_labels.iter().any(|l| l.backup_position || l.x86);
    let described = matches!(v.table, TableMatch::Matches { .. });
    let found = format!(
        "a scan finds pool {} (vdev guid {}) at byte {:#x}, {} bytes, labels {:?}",
        v.facts.name.as_deref().unwrap_or("?"),
        v.facts.guid.unwrap_or(0),
        v.start,
        v.psize.map_or("unknown".into(), |p| p.to_string()),
        v.labels
    );
    let from = if described {
        None
    } else if backup && !primary {
        Some("backup")
    } else if primary && !backup {
        Some("primary")
    } else if !primary && !backup && sun_backup {
        Some("backup")
    } else if !primary && !backup {
        Some("scan")
    } else {
        None
    };
    match from {
        Some(f) => out.push(Advice {
            message: format!("{found}; the partition table does not describe it"),
            fix: Some(format!(
                "kzrescue partitions restore {q} --from {f}{ss_arg} --write"
            )),
        }),
        None if !described => out.push(Advice {
            message: format!(
                "{found}; the partition table disagrees with it and neither GPT copy is missing: compare `kzrescue scan {q}` with `kzrescue partitions {q}` before changing anything"
            ),
            fix: Some(format!("kzrescue scan {q}")),
        }),
        None => {}
    }
    if v.labels.len() < 4 {
        out.push(Advice {
            message: format!(
                "only labels {:?} of the vdev verify; the others can be rebuilt from them (after the table is restored)",
                v.labels
            ),
            fix: Some(label_repair_command(spec)),
        });
    }
    if pools.len() > 1 {
        out.push(Advice {
            message: format!(
                "{} vdevs were found on the device; the advice above is for the first (see `kzrescue scan {q}`)",
                pools.len()
            ),
            fix: None,
        });
    }
    out
}
