//! `kzrescue scan <device>`: every ZFS vdev on a device, found by its
//! labels rather than by the partition table (see `kzrescue::scan` and
//! `formats/scan.md`). Text by default; `--json` prints the library's report
//! (schema `kzrescue.scan/2`). A progress bar goes to stderr on a terminal.
//!
//! Exit status: 0 every vdev found is described by the table and has four
//! labels; 1 something to repair (no table, a disagreeing table, missing
//! labels, a bound hit); 2 an error.

use super::target::parse_sector_size;
use super::{EXIT_OK, EXIT_PROBLEMS};
use indicatif::{ProgressBar, ProgressStyle};
use kzrescue::Result;
use kzrescue::scan::{self, ScanOptions, ScanReport, TableMatch};
use serde_json::json;
use std::io::IsTerminal;

/// Arguments of `kzrescue scan`.
#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// Image file, block device or storage URI (the whole disk).
    pub target: String,
    /// Sector size for the proposed partition entries (512 or 4096); by
    /// default the device's, else the one its GPT remnants use, else 512.
    #[arg(long, value_name = "BYTES", value_parser = parse_sector_size)]
    pub sector_size: Option<u32>,
    /// Print JSON (schema `kzrescue.scan/2`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the scan with a progress bar on a terminal.
pub fn run_scan(target: &str, sector_size: Option<u32>) -> Result<ScanReport> {
    let src = scan::open_for_scan(target, &super::context::get().access()?)?;
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(src.size());
        b.set_style(
            ProgressStyle::with_template(
                "scan {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let r = scan::scan(src.as_ref(), ScanOptions { sector_size }, &mut |done, _| {
        bar.set_position(done)
    });
    bar.finish_and_clear();
    r
}

/// Runs the subcommand.
pub fn run(a: &ScanArgs) -> Result<u8> {
    let r = run_scan(&a.target, a.sector_size)?;
    if a.json {
        let mut doc = serde_json::to_value(&r).unwrap_or_else(|_| json!({}));
        doc["target"] = json!(a.target);
        super::out::print_json("kzrescue.scan/2", &doc)?;
    } else {
        print_text(&a.target, &r);
    }
    Ok(if r.needs_work() {
        EXIT_PROBLEMS
    } else {
        EXIT_OK
    })
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("-".into(), |x| x.to_string())
}

fn print_text(target: &str, r: &ScanReport) {
    println!(
        "{target}: {} bytes scanned, {} label candidate(s), {} verified, {} unverified",
        r.bytes_read,
        r.candidates,
        r.labels.len(),
        r.unverified
    );
    match (&r.table_kind, &r.table_error) {
        (Some(k), _) => println!("partition table: {k}"),
        (None, Some(e)) => println!("partition table: unreadable ({e})"),
        (None, None) => println!("partition table: -"),
    }
    for n in &r.notes {
        println!("  note: {n}");
    }
    if r.vdevs.is_empty() {
        println!("no ZFS vdev label verified anywhere on the device");
    }
    for (i, v) in r.vdevs.iter().enumerate() {
        print_vdev(i, v);
    }
    for s in &r.sun_labels {
        println!(
            "{} label at {:#x}: {} cylinders ({} data + {} alternate) × {} heads × {} sectors{}",
            if s.x86 { "x86 VTOC" } else { "Sun" },
            s.at,
            s.pcyl,
            s.ncyl,
            s.acyl,
            s.nhead,
            s.nsect,
            if s.primary {
                " (primary, sector 0)"
            } else if s.backup_position {
                " (backup copy, where Solaris keeps one)"
            } else if s.x86 {
                " (in a Solaris fdisk partition: the primary in its sector 1, or a backup on its last track)"
            } else {
                ""
            }
        );
    }
    for l in &r.limits_hit {
        println!("LIMIT: {l}");
    }
}

/// One vdev of the report, for a person.
fn print_vdev(i: usize, v: &scan::FoundVdev) {
    let f = &v.facts;
    println!();
    println!(
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
    println!(
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
    println!(
        "  pool {} guid {}  vdev guid {}  top guid {}",
        opt(&f.name),
        opt(&f.pool_guid),
        opt(&f.guid),
        opt(&f.top_guid)
    );
    println!(
        "  txg {}  state {}  version {}  type {}  asize {}  ashift {}",
        opt(&f.txg),
        opt(&f.state),
        opt(&f.version),
        opt(&f.vdev_type),
        opt(&f.asize),
        opt(&f.ashift)
    );
    println!(
        "  hostid {}  hostname {}",
        f.hostid.map_or("-".into(), |h| format!("{h:#x}")),
        opt(&f.hostname)
    );
    println!(
        "  path {}  phys_path {}  devid {}",
        opt(&f.path),
        opt(&f.phys_path),
        opt(&f.devid)
    );
    match &v.table {
        TableMatch::Matches { slice, len } => {
            println!("  table: s{slice} starts here ({len} bytes): agrees")
        }
        TableMatch::SizeDiffers { slice, len } => {
            println!("  table: s{slice} starts here but is {len} bytes: DISAGREES with the labels")
        }
        TableMatch::NoSliceHere { overlapping } => println!(
            "  table: no slice starts here: DISAGREES (overlapping: {})",
            if overlapping.is_empty() {
                "none".to_string()
            } else {
                overlapping.join(", ")
            }
        ),
        TableMatch::NoTable => println!("  table: none describes it"),
    }
    if let Some(p) = &v.proposed_gpt {
        println!(
            "  would be: GPT s{} {} ({}) LBAs {}..{} at {} bytes/sector — {}",
            p.slice, p.type_name, p.type_guid, p.first_lba, p.last_lba, p.sector_size, p.why
        );
    }
}
