//! `kzrescue timeline <targets…>`: every pool state still on disk, newest
//! first, with what changed in each; plus the helpers the `changes` and
//! `deleted` summaries share.

use super::datasets::{emit, notice};
use kzrescue::Result;
use kzrescue::forensic::{History, When, timeline};

/// The devices of a pool (every state of which is read).
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Use this Solaris slice on every disk instead of the one ZFS slice.
    #[arg(long, value_name = "N")]
    pub slice: Option<u32>,
    /// Logical sector size of the disks (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = super::target::parse_sector_size)]
    pub sector_size: Option<u32>,
}

impl DeviceArgs {
    /// Opens every state of the pool on `targets`; notes go to stderr.
    pub fn history(&self, targets: &[String]) -> Result<History> {
        let opts = kzrescue::read::PoolOptions {
            slice: self.slice,
            sector_size: self.sector_size,
            txg: None,
            access: super::context::get().access()?,
        };
        History::open_targets(targets, &opts, &mut notice)
    }
}

/// Arguments of `kzrescue timeline`.
#[derive(clap::Args, Debug)]
pub struct TimelineArgs {
    /// The pool's devices (mirror sides, raidz members, stripes): image
    /// files, block devices or storage URIs.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub dev: DeviceArgs,
    /// Print JSON (schema `kzrescue.timeline/2`; integers as strings unless
    /// --json-int).
    #[arg(long)]
    pub json: bool,
}

/// A UNIX time (seconds, UTC; negative before 1970) as
/// `YYYY-MM-DD hh:mm:ss UTC`.
pub fn utc_signed(t: i64) -> String {
    kzrescue::time::utc(t)
}

/// An uberblock or DSL time (unsigned seconds) as [`utc_signed`] does.
pub fn utc(t: u64) -> String {
    kzrescue::time::utc_unsigned(t)
}

/// A txg's time as known: exact, or bracketed.
pub fn when(w: &When) -> String {
    match (w.time, w.not_before, w.not_after) {
        (Some(t), _, _) => utc(t),
        (None, Some(a), Some(b)) => format!("between {} and {}", utc(a), utc(b)),
        (None, Some(a), None) => format!("after {}", utc(a)),
        (None, None, Some(b)) => format!("before {}", utc(b)),
        (None, None, None) => "time unknown".into(),
    }
}

/// Prints a forensic document (which carries its own `schema`) as every
/// `--json` is printed: integers as strings unless `--json-int`.
pub fn json<T: serde::Serialize>(doc: &T) -> Result<()> {
    super::out::stream_json(doc)
}

/// Says a forensic report's notes and read errors on stderr.
pub fn say(notes: &[String], errors: &[String]) {
    for n in notes {
        eprintln!("kzrescue: note: {n}");
    }
    for e in errors {
        eprintln!("kzrescue: {e}");
    }
}

/// A forensic report's exit status: problems found when reads failed.
pub fn exit(errors: &[String]) -> u8 {
    if errors.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    }
}

/// Runs the subcommand.
pub fn run(args: &TimelineArgs) -> Result<u8> {
    let h = args.dev.history(&args.targets)?;
    let t = timeline(&h);
    if args.json {
        json(&t)?;
    } else {
        emit(&format!(
            "Pool {} (guid {}, version {}) on {}",
            t.pool,
            t.pool_guid,
            t.version,
            t.devices.join(", ")
        ))?;
        emit(&format!(
            "{} distinct uberblocks; head txg {}; readable back to {}; wholly readable back to {}",
            t.states.len(),
            t.head_txg,
            t.readable_back_to
                .map(|w| format!("txg {} ({})", w.txg, when(&w)))
                .unwrap_or_else(|| "-".into()),
            t.fully_readable_back_to
                .map(|w| format!("txg {} ({})", w.txg, when(&w)))
                .unwrap_or_else(|| "-".into()),
        ))?;
        if t.bad_slots > 0 {
            emit(&format!(
                "{} uberblock slots fail their embedded checksum (not listed)",
                t.bad_slots
            ))?;
        }
        emit("")?;
        emit(&format!(
            "{:>10}  {:<23}  {:>6}  {:<8}  changes since the previous readable state",
            "TXG", "TIME", "COPIES", "READS"
        ))?;
        for s in &t.states {
            let reads = if !s.rootbp_verifies {
                "no"
            } else if !s.mos_reads {
                "rootbp"
            } else if s.datasets_unreadable.is_empty() {
                "all"
            } else {
                "partly"
            };
            let mut what = Vec::new();
            for c in &s.changed {
                what.push(format!("{} (objset birth {})", c.name, c.objset_birth));
            }
            for n in &s.datasets_created {
                what.push(format!("+dataset {n}"));
            }
            for n in &s.datasets_destroyed {
                what.push(format!("-dataset {n}"));
            }
            for n in &s.snapshots_created {
                what.push(format!("+snapshot {n}"));
            }
            for n in &s.snapshots_destroyed {
                what.push(format!("-snapshot {n}"));
            }
            let what = match (s.compared_with, what.is_empty()) {
                (None, _) if s.mos_reads => "(oldest readable state)".to_string(),
                (None, _) => s.problem.clone().unwrap_or_default(),
                (Some(_), true) => "no dataset changed".to_string(),
                (Some(_), false) => what.join(", "),
            };
            emit(&format!(
                "{:>10}  {:<23}  {:>6}  {:<8}  {}",
                s.txg,
                utc(s.time),
                s.copies.len(),
                reads,
                what
            ))?;
            for u in &s.datasets_unreadable {
                emit(&format!("{:>10}  unreadable: {u}", ""))?;
            }
        }
        if !t.older_snapshots.is_empty() {
            emit("")?;
            emit("Older than every uberblock, readable through snapshots:")?;
            for s in &t.older_snapshots {
                emit(&format!(
                    "  {} (txg {}, {}){}",
                    s.name,
                    s.created.txg,
                    when(&s.created),
                    if s.readable { "" } else { " — does not read" }
                ))?;
            }
        }
    }
    Ok(super::EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_000_000_000), "2001-09-09 01:46:40 UTC");
        assert_eq!(utc_signed(-1), "1969-12-31 23:59:59 UTC");
    }
}
