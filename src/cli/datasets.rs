//! `kzrescue datasets <targets…>`: every dataset and snapshot of the pool,
//! like `zdb -d`, read offline; plus the pool-opening helpers the other
//! forensic subcommands share.

use kzrescue::read::{Notice, PoolOptions, open_pool};
use kzrescue::zfs::dsl::DatasetInfo;
use kzrescue::{Error, Result};
use serde::Serialize;

/// How to find and open the pool: its devices and the state to read.
#[derive(clap::Args, Debug, Clone)]
pub struct PoolArgs {
    /// Use this Solaris slice on every disk instead of the one ZFS slice.
    #[arg(long, value_name = "N", value_parser = super::bounds::parse_slice)]
    pub slice: Option<u32>,
    /// Logical sector size of the disks (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = super::target::parse_sector_size)]
    pub sector_size: Option<u32>,
    /// Read the pool as of this txg (the newest uberblock at or before it).
    #[arg(long, value_name = "N")]
    pub txg: Option<u64>,
}

impl PoolArgs {
    /// The library's options for these arguments.
    pub fn options(&self) -> Result<PoolOptions> {
        Ok(PoolOptions {
            slice: self.slice,
            sector_size: self.sector_size,
            txg: self.txg,
            access: super::context::get().access()?,
        })
    }

    /// Opens the pool on the devices of `args` ("TARGET… SPEC") and the
    /// file system SPEC names; notes and the file system's warnings go to
    /// stderr (true in the second value when there were warnings).
    pub fn place(&self, args: &[String]) -> Result<(kzrescue::read::Place, bool)> {
        let (targets, spec) = kzrescue::read::split_targets(args);
        let p = kzrescue::read::open_place(targets, spec, &self.options()?, &mut notice)?;
        let warned = warn_fs(&p.fs);
        Ok((p, warned))
    }

    /// Opens every target read-only and assembles the pool; notes and
    /// warnings go to stderr.
    pub fn open(&self, targets: &[String]) -> Result<kzrescue::zfs::spa::Opened> {
        open_pool(targets, &self.options()?, &mut notice)
    }
}

/// Says a notice of the library on stderr.
pub fn notice(n: Notice) {
    match n {
        Notice::Warning(w) => eprintln!("kzrescue: warning: {w}"),
        Notice::Note(n) => eprintln!("kzrescue: note: {n}"),
        Notice::Problem(e) => eprintln!("kzrescue: {e}"),
    }
}

/// Arguments of `kzrescue datasets`.
#[derive(clap::Args, Debug)]
pub struct DatasetsArgs {
    /// The pool's devices (mirror sides, raidz members, stripes): image
    /// files, block devices or storage URIs.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Print JSON (schema `kzrescue.datasets/2`; integers as strings unless
    /// --json-int).
    #[arg(long)]
    pub json: bool,
}

/// zdb's compact size format (`zfs_nicenum`): 1024-based, at most 5 characters.
pub fn nicenum(num: u64) -> String {
    const UNITS: [char; 7] = [' ', 'K', 'M', 'G', 'T', 'P', 'E'];
    let mut n = num;
    let mut index = 0;
    while n >= 1024 && index < 6 {
        n /= 1024;
        index += 1;
    }
    if index == 0 {
        return format!("{n}");
    }
    let unit = UNITS[index];
    if num.is_multiple_of(1u64 << (10 * index)) {
        return format!("{n}{unit}");
    }
    let v = num as f64 / (1u64 << (10 * index)) as f64;
    let mut out = String::new();
    for prec in (0..=2).rev() {
        out = format!("{v:.prec$}{unit}");
        if out.len() <= 5 {
            break;
        }
    }
    out
}

#[derive(Serialize)]
struct DatasetJson<'a> {
    name: &'a str,
    id: u64,
    #[serde(rename = "type")]
    kind: String,
    snapshot: bool,
    creation_txg: u64,
    creation_time: u64,
    referenced_bytes: u64,
    objects: u64,
    guid: u64,
    encrypted: bool,
    problem: Option<&'a str>,
    properties: &'a std::collections::BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Doc<'a> {
    pool: &'a str,
    pool_guid: u64,
    version: u64,
    txg: u64,
    mos: MosJson,
    datasets: Vec<DatasetJson<'a>>,
    errors: Vec<String>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct MosJson {
    used_bytes: Option<u64>,
    objects: u64,
}

fn kind(d: &DatasetInfo) -> String {
    d.os_type
        .map(|t| t.name())
        .unwrap_or_else(|| "UNREADABLE".into())
}

/// zdb's line for one dataset.
pub fn zdb_line(d: &DatasetInfo) -> String {
    format!(
        "Dataset {} [{}], ID {}, cr_txg {}, {}, {} objects",
        d.name,
        kind(d),
        d.id,
        d.ds.creation_txg,
        nicenum(d.ds.referenced_bytes),
        d.objects()
    )
}

/// Runs the subcommand.
pub fn run(args: &DatasetsArgs) -> Result<u8> {
    let o = args.pool.open(&args.targets)?;
    let mos = o.mos.info(&o.pool);
    let all = o.mos.datasets(&o.pool);
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for d in all {
        match d {
            Ok(d) => ok.push(d),
            Err(e) => errors.push(e.to_string()),
        }
    }
    for d in &ok {
        if let Some(p) = &d.problem {
            errors.push(format!("dataset {}: {p}", d.name));
        }
    }
    if args.json {
        let doc = Doc {
            pool: &o.pool.name,
            pool_guid: o.pool.guid,
            version: o.pool.version,
            txg: o.uberblock.txg,
            mos: MosJson {
                used_bytes: mos.used_bytes,
                objects: mos.objects,
            },
            datasets: ok
                .iter()
                .map(|d| DatasetJson {
                    name: &d.name,
                    id: d.id,
                    kind: kind(d),
                    snapshot: d.snapshot,
                    creation_txg: d.ds.creation_txg,
                    creation_time: d.ds.creation_time,
                    referenced_bytes: d.ds.referenced_bytes,
                    objects: d.objects(),
                    guid: d.ds.guid,
                    encrypted: d.encrypted,
                    problem: d.problem.as_deref(),
                    properties: &d.props,
                })
                .collect(),
            errors: errors.clone(),
            notes: &o.notes,
        };
        super::out::print_json("kzrescue.datasets/2", &doc)?;
    } else {
        emit(&format!(
            "Dataset mos [META], ID 0, cr_txg 4, {}, {} objects",
            mos.used_bytes.map(nicenum).unwrap_or_else(|| "-".into()),
            mos.objects
        ))?;
        for d in &ok {
            let mut line = zdb_line(d);
            if d.encrypted {
                line.push_str(" (encrypted: contents not read)");
            }
            emit(&line)?;
        }
        for e in &errors {
            eprintln!("kzrescue: {e}");
        }
    }
    Ok(if errors.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    })
}

/// Writes one line to stdout; a closed pipe (`| head`) is an I/O error,
/// not a panic.
pub fn emit(line: &str) -> Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{}", super::out::escape(line))
        .map_err(|e| Error::io("write stdout", e))
}

/// Prints the file system's warnings (an impossible version, a root that
/// is not a directory) on stderr; true when there were any (the command
/// then ends with "problems found").
pub fn warn_fs(fs: &kzrescue::zfs::zpl::Zpl) -> bool {
    for w in &fs.warnings {
        eprintln!("kzrescue: warning: {w}");
    }
    !fs.warnings.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicenum_like_zdb() {
        assert_eq!(nicenum(0), "0");
        assert_eq!(nicenum(1023), "1023");
        assert_eq!(nicenum(21504), "21K");
        assert_eq!(nicenum(50688), "49.5K");
        assert_eq!(nicenum(2430976), "2.32M");
        assert_eq!(nicenum(1044480), "1020K");
    }
}
