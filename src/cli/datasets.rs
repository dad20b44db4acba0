//! `kzrescue datasets <targets…>`: every dataset and snapshot of the pool,
//! like `zdb -d`, read offline; plus the pool-opening helpers the other
//! forensic subcommands share.

use kzrescue::source::{PreadFile, SharedSource, Window};
use kzrescue::target::{TargetOptions, open_vdev};
use kzrescue::zfs::dsl::DatasetInfo;
use kzrescue::zfs::objset::ObjSet;
use kzrescue::zfs::spa::{self, Opened};
use kzrescue::zfs::zpl::Zpl;
use kzrescue::{Error, Result};
use serde::Serialize;
use std::sync::Arc;

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
    /// Opens every target read-only and assembles the pool; prints notes
    /// (missing devices, unsupported features) on stderr.
    pub fn open(&self, targets: &[String]) -> Result<Opened> {
        let sources = open_sources(targets, self.slice, self.sector_size)?;
        let opened = spa::open(&sources, self.txg)?;
        for n in &opened.notes {
            eprintln!("kzrescue: note: {n}");
        }
        if self.txg.is_some() {
            let u = &opened.uberblock;
            eprintln!(
                "kzrescue: note: reading txg {} (uberblock in label {} slot {}, written {})",
                u.txg,
                u.label,
                u.slot,
                kzrescue::time::utc_unsigned(u.timestamp)
            );
        }
        Ok(opened)
    }
}

/// Opens every target read-only as a vdev source (the ZFS slice of a
/// disk, or a bare vdev).
pub fn open_sources(
    targets: &[String],
    slice: Option<u32>,
    sector_size: Option<u32>,
) -> Result<Vec<SharedSource>> {
    let opts = TargetOptions {
        slice,
        sector_size,
        write: false,
        access: super::context::get().access()?,
    };
    let mut sources = Vec::new();
    for t in targets {
        let v = open_vdev(t, &opts)?;
        if let Some(w) = v.shortfall() {
            eprintln!("kzrescue: warning: {w}");
        }
        // Regular image files are re-opened for positioned reads so that
        // scanning a whole image does not count against resident memory.
        let path = std::path::Path::new(t);
        let src = match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {
                let f: SharedSource = Arc::new(PreadFile::open(path)?);
                match &v.partition {
                    Some(p) => Arc::new(Window::new(f, p.start, p.len, p.label())) as SharedSource,
                    None => f,
                }
            }
            _ => v.source,
        };
        sources.push(src);
    }
    Ok(sources)
}

/// Arguments of `kzrescue datasets`.
#[derive(clap::Args, Debug)]
pub struct DatasetsArgs {
    /// The pool's devices (mirror sides, raidz members, stripes): image
    /// files or block devices.
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

/// A dataset spec `NAME[@SNAP][:/path]` split into (dataset, path).
pub fn split_spec(spec: &str) -> (String, String) {
    match spec.split_once(':') {
        Some((ds, p)) => (
            ds.to_string(),
            if p.is_empty() {
                "/".into()
            } else {
                p.to_string()
            },
        ),
        None => (spec.to_string(), "/".into()),
    }
}

/// Prints the file system's warnings (an impossible version, a root that
/// is not a directory) on stderr; true when there were any (the command
/// then ends with "problems found").
pub fn warn_fs(fs: &Zpl) -> bool {
    for w in &fs.warnings {
        eprintln!("kzrescue: warning: {w}");
    }
    !fs.warnings.is_empty()
}

/// Opens the ZPL file system of dataset `name` (`pool/fs` or `pool/fs@snap`).
pub fn open_fs(o: &Opened, name: &str) -> Result<Zpl> {
    let d = o.mos.find(&o.pool, name)?;
    if d.encrypted {
        return Err(Error::unsupported(
            "dataset",
            format!("{name} is encrypted; kzrescue lists it but reads nothing inside"),
        ));
    }
    let os = ObjSet::open(&o.pool, &d.ds.bp)?;
    Zpl::open(o.pool.clone(), os)
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
