//! `kzrescue ls <targets…> DATASET[@SNAP]:/path`: a directory listing (or
//! one file's line) in `ls -l --time-style=full-iso` style, times in UTC
//! (or `--local`), read offline; `--json` for the raw values.

use super::datasets::{PoolArgs, emit};
use kzrescue::Result;
use kzrescue::read::{Listed, list};
use kzrescue::tz::Zone;
use kzrescue::zfs::walk::escape_name;
use kzrescue::zfs::zpl::{FileType, Znode};
use serde::Serialize;

/// Arguments of `kzrescue ls`.
#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// The pool's devices (image files, block devices or storage URIs), then `DATASET[@SNAP]:/path`.
    #[arg(required = true, num_args = 2.., value_name = "TARGET… SPEC")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Include the object number of each entry.
    #[arg(short = 'i', long)]
    pub inode: bool,
    /// Print times in UTC (+0000), the default.
    #[arg(long, overrides_with = "local")]
    pub utc: bool,
    /// Print times in local time: the zone of $TZ (a zone name such as
    /// Europe/Berlin, a TZif file `:/path`, or a fixed offset such as
    /// UTC-5:30; POSIX daylight-saving rules in $TZ are not supported), else
    /// /etc/localtime.
    #[arg(long, overrides_with = "utc")]
    pub local: bool,
    /// Print JSON (schema `kzrescue.ls/1`): every entry's raw attributes,
    /// mtime as seconds and nanoseconds (integers as strings unless
    /// --json-int).
    #[arg(long)]
    pub json: bool,
}

/// One entry of `ls --json`.
#[derive(Serialize)]
struct EntryJson {
    name: String,
    object: u64,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<FileType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    links: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rdev: Option<[u64; 2]>,
    /// Seconds since 1970 (negative before).
    #[serde(skip_serializing_if = "Option::is_none")]
    mtime: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtime_nsec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The `ls --json` document.
#[derive(Serialize)]
struct LsDoc {
    pool: String,
    txg: u64,
    dataset: String,
    path: String,
    entries: Vec<EntryJson>,
}

/// One entry's raw attributes.
fn entry_json(l: &Listed) -> EntryJson {
    let mut e = EntryJson {
        name: String::from_utf8_lossy(&l.name).into_owned(),
        object: l.object,
        kind: None,
        mode: None,
        links: None,
        uid: None,
        gid: None,
        size: None,
        rdev: None,
        mtime: None,
        mtime_nsec: None,
        target: None,
        error: None,
    };
    match &l.znode {
        Ok(z) => {
            let t = z.file_type();
            e.kind = Some(t);
            e.mode = Some(format!("{:04o}", z.mode & 0o7777));
            (e.links, e.uid, e.gid, e.size) =
                (Some(z.links), Some(z.uid), Some(z.gid), Some(z.size));
            (e.mtime, e.mtime_nsec) = (Some(z.mtime.sec), Some(z.mtime.nsec));
            if matches!(t, FileType::Chardev | FileType::Blockdev) {
                let (ma, mi) = z.device();
                e.rdev = Some([ma, mi]);
            }
            match &l.target {
                Some(Ok(t)) => e.target = Some(String::from_utf8_lossy(t).into_owned()),
                Some(Err(err)) => e.error = Some(err.to_string()),
                None => {}
            }
        }
        Err(err) => e.error = Some(err.to_string()),
    }
    e
}

/// A modification time as `ls -l --time-style=full-iso` prints it, in
/// `zone` (a nanosecond field of a billion or more, which no system
/// writes, as `?????????`).
pub fn full_iso(t: &kzrescue::zfs::zpl::Time, zone: &Zone) -> String {
    if t.nsec < 1_000_000_000 {
        kzrescue::tz::full_iso(t.sec, t.nsec, zone)
    } else {
        let (c, off) = kzrescue::tz::local(t.sec, zone);
        format!("{}.????????? {off}", c.iso())
    }
}

/// The zone `--local` means: $TZ (a zone name under $TZDIR or
/// /usr/share/zoneinfo, `:FILE`, or a fixed-offset POSIX string), else
/// /etc/localtime, else UTC.
pub fn local_zone() -> Result<Zone> {
    let read = |p: &std::path::Path| {
        std::fs::read(p)
            .map_err(|e| kzrescue::Error::io(format!("read {}", p.display()), e))
            .and_then(|b| Zone::from_tzif(&b))
    };
    let Some(tz) = std::env::var_os("TZ").map(|v| v.to_string_lossy().into_owned()) else {
        let p = std::path::Path::new("/etc/localtime");
        return if p.exists() { read(p) } else { Ok(Zone::utc()) };
    };
    let name = tz.strip_prefix(':').unwrap_or(&tz);
    if name.starts_with('/') {
        return read(std::path::Path::new(name));
    }
    let dir = std::env::var_os("TZDIR").unwrap_or_else(|| "/usr/share/zoneinfo".into());
    let file = std::path::Path::new(&dir).join(name);
    if !name.is_empty() && !name.split('/').any(|c| c == "..") && file.is_file() {
        return read(&file);
    }
    Zone::from_posix(name)
}

/// `ls -l`'s permission string.
pub fn mode_string(z: &Znode) -> String {
    let m = z.mode;
    let mut s = String::new();
    s.push(z.file_type().letter());
    let bits = [
        0o400, 0o200, 0o100, 0o040, 0o020, 0o010, 0o004, 0o002, 0o001,
    ];
    for (i, b) in bits.into_iter().enumerate() {
        let set = m & b != 0;
        // setuid, setgid and sticky show in the x column of their triple
        let special = match i {
            2 => (m & 0o4000 != 0).then_some('s'),
            5 => (m & 0o2000 != 0).then_some('s'),
            8 => (m & 0o1000 != 0).then_some('t'),
            _ => None,
        };
        s.push(match (special, set) {
            (Some(c), true) => c,
            (Some(c), false) => c.to_ascii_uppercase(),
            (None, true) => ['r', 'w', 'x'][i % 3],
            (None, false) => '-',
        });
    }
    s
}

/// One `ls -l` line of entry `l`, shown as `name`.
pub fn line(l: &Listed, name: &[u8], inode: bool, zone: &Zone) -> String {
    let z = match &l.znode {
        Ok(z) => z,
        Err(e) => {
            return format!(
                "?????????? {} (object {}: {e})",
                String::from_utf8_lossy(name),
                l.object
            );
        }
    };
    let mut s = String::new();
    if inode {
        s.push_str(&format!("{:>8} ", l.object));
    }
    let size = match z.file_type() {
        FileType::Chardev | FileType::Blockdev => {
            let (ma, mi) = z.device();
            format!("{ma},{mi}")
        }
        _ => z.size.to_string(),
    };
    s.push_str(&format!(
        "{} {:>3} {:>5} {:>5} {:>10} {} {}",
        mode_string(z),
        z.links,
        z.uid,
        z.gid,
        size,
        full_iso(&z.mtime, zone),
        String::from_utf8_lossy(name)
    ));
    match &l.target {
        Some(Ok(t)) => s.push_str(&format!(" -> {}", String::from_utf8_lossy(t))),
        Some(Err(e)) => s.push_str(&format!(" -> (unreadable: {e})")),
        None => {}
    }
    s
}

/// Says on stderr what is wrong with a directory entry's name; true when
/// something was.
fn name_warnings(path: &str, l: &Listed, shown: &[u8]) -> usize {
    let mut problems = 0;
    if let Some(p) = l.name_problem {
        eprintln!(
            "kzrescue: warning: {path}: entry {:?} (object {}): {p}; shown as {:?}",
            String::from_utf8_lossy(&l.name),
            l.object,
            String::from_utf8_lossy(shown)
        );
        problems += 1;
    }
    if l.duplicate {
        eprintln!(
            "kzrescue: warning: {path}: entry {:?} (object {}): a second entry of this name in one directory",
            String::from_utf8_lossy(&l.name),
            l.object
        );
        problems += 1;
    }
    problems
}

/// Runs the subcommand.
pub fn run(args: &LsArgs) -> Result<u8> {
    let zone = if args.local {
        local_zone()?
    } else {
        Zone::utc()
    };
    let (p, warned) = args.pool.place(&args.args)?;
    let mut problems = usize::from(warned);
    let path = &p.spec.path;
    let listing = list(&p.fs, path)?;
    let mut doc = LsDoc {
        pool: p.opened.pool.name.clone(),
        txg: p.opened.uberblock.txg,
        dataset: p.spec.dataset.clone(),
        path: path.clone(),
        entries: Vec::new(),
    };
    for l in &listing.entries {
        // a name no directory can hold is shown escaped, and reported
        let shown = if listing.dir {
            escape_name(&l.name)
        } else {
            l.name.clone()
        };
        if listing.dir {
            problems += name_warnings(path, l, &shown);
        }
        if args.json {
            // the raw name, lossy UTF-8 (JSON escapes what needs it)
            let j = entry_json(l);
            if listing.dir && j.error.is_some() {
                problems += 1;
            }
            doc.entries.push(j);
            continue;
        }
        if let (true, Err(err)) = (listing.dir, &l.znode) {
            // the listing keeps its line; the failure is said on stderr too
            eprintln!(
                "kzrescue: {path}: entry {:?}: {err}",
                String::from_utf8_lossy(&shown)
            );
            problems += 1;
        }
        emit(&line(l, &shown, args.inode, &zone))?;
    }
    if args.json {
        super::out::print_json("kzrescue.ls/1", &doc)?;
    }
    Ok(if problems == 0 {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    })
}
