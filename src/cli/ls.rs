//! `kzrescue ls <targets…> DATASET[@SNAP]:/path`: a directory listing (or
//! one file's line) in `ls -l --time-style=full-iso` style, times in UTC
//! (or `--local`), read offline; `--json` for the raw values.

use super::datasets::{PoolArgs, notice};
use kzrescue::Result;
use kzrescue::tz::Zone;

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

/// Runs the subcommand.
pub fn run(args: &LsArgs) -> Result<u8> {
    let zone = if args.local {
        local_zone()?
    } else {
        Zone::utc()
    };
    let (p, warned) = args.pool.place(&args.args)?;
    let ls = kzrescue::read::ls(&p)?;
    let problems = if args.json {
        let (doc, problems) = ls.json(&mut notice);
        super::out::print_json("kzrescue.ls/1", &doc)?;
        problems
    } else {
        let mut line = |l: &str| super::out::print_text(&format!("{l}\n"));
        ls.write_text(args.inode, &zone, &mut notice, &mut line)?
    };
    Ok(if problems == 0 && !warned {
        super::EXIT_OK
    } else {
        super::EXIT_PROBLEMS
    })
}
