//! `kzrescue uri parse|normalize|map` (storage URIs as suriadm shows them)
//! and `kzrescue iscsi discover|inquiry` (what a portal and its LUs say).
//!
//! Every command that takes a target also takes a URI; these commands are
//! for looking at URIs and iSCSI targets themselves. CHAP credentials come
//! from the global `--chap-user` and `--chap-secret-file` (or
//! `KZRESCUE_CHAP_USER`, `KZRESCUE_CHAP_SECRET_FILE` / `KZRESCUE_CHAP_SECRET`),
//! never a secret on the command line.

use super::out;
use kzrescue::storage::{self, CopyTo, StorageUri};
use kzrescue::zone::comstar;
use kzrescue::{Error, Result};
use std::path::PathBuf;

/// Arguments of `kzrescue uri`.
#[derive(clap::Args, Debug)]
pub struct UriArgs {
    #[command(subcommand)]
    cmd: UriCmd,
}

#[derive(clap::Subcommand, Debug)]
enum UriCmd {
    /// Show the parts of a storage URI (like `suriadm parse`).
    Parse {
        /// The URI.
        uri: String,
        /// JSON output (integers as strings unless --json-int).
        #[arg(long)]
        json: bool,
    },
    /// Print the normalized form (like `suriadm normalize`).
    Normalize {
        /// The URI.
        uri: String,
    },
    /// Show what the URI maps to on this machine (changes nothing). With
    /// --via-iscsi: print the Solaris host commands that lend the zvol(s) to
    /// this machine as write-protected iSCSI LUs, and take them back.
    Map {
        /// The URI (with --via-iscsi: one or more `dev:` zvol URIs).
        #[arg(required = true, num_args = 1..)]
        uri: Vec<String>,
        /// Print the zvol route: halt the zone, export the zvol over COMSTAR
        /// iSCSI to one initiator, the URI and --map to use, lifting write
        /// protection, teardown, boot (see formats/zvol-route.md).
        #[arg(long)]
        via_iscsi: bool,
        /// With --via-iscsi: the Solaris host's address as this machine
        /// reaches it (HOST, HOST:PORT, [IPv6]:PORT): the target portal and
        /// the host of the iscsi: URI.
        #[arg(long, value_name = "ADDR", requires = "via_iscsi")]
        rescue_host: Option<String>,
        /// With --via-iscsi: the rescue machine's initiator name (default:
        /// this machine's, KZRESCUE_INITIATOR_NAME or iqn.2026-11.org.kzrescue:HOSTNAME).
        #[arg(long, value_name = "IQN", requires = "via_iscsi")]
        initiator: Option<String>,
        /// With --via-iscsi: the kernel zone using the zvol (adds the state
        /// check, halt, zonecfg export, diagnose/repair and boot steps).
        #[arg(long, value_name = "ZONE", requires = "via_iscsi")]
        zone: Option<String>,
        /// JSON output (integers as strings unless --json-int).
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `kzrescue iscsi`.
///
/// `read` copies an LU (or a byte range of it) to a file or stdout — an image
/// to rescue from offline — and reports the throughput on stderr.
#[derive(clap::Args, Debug)]
pub struct IscsiArgs {
    #[command(subcommand)]
    cmd: IscsiCmd,
}

#[derive(clap::Subcommand, Debug)]
enum IscsiCmd {
    /// SendTargets discovery: list the targets a portal offers.
    Discover {
        /// `host[:port]`.
        portal: String,
        /// JSON output (integers as strings unless --json-int).
        #[arg(long)]
        json: bool,
    },
    /// INQUIRY, VPD 0x83 and capacity of the LU a URI names, or of every LU
    /// of every target behind a portal.
    Inquiry {
        /// An `iscsi:` URI, or `host[:port]` for every LU.
        what: String,
        /// JSON output (integers as strings unless --json-int).
        #[arg(long)]
        json: bool,
    },
    /// Copy the LU a URI names (or a range of it) to a file, `-` for stdout,
    /// or nowhere (`--discard`, to measure throughput).
    Read {
        /// An `iscsi:` URI (any target URI works).
        uri: String,
        /// Output file (created; refuses to overwrite) or `-`.
        #[arg(long, short, value_name = "FILE", required_unless_present = "discard")]
        output: Option<PathBuf>,
        /// Read and throw away (benchmark).
        #[arg(long)]
        discard: bool,
        /// First byte.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Bytes to copy (default: to the end).
        #[arg(long)]
        length: Option<u64>,
        /// Bytes per read call from an image or block device (an iSCSI LU
        /// keeps its READs in flight across the whole range instead).
        #[arg(long, default_value_t = 16 << 20)]
        chunk: usize,
    },
}

fn run_read(a: &IscsiCmd) -> Result<u8> {
    let IscsiCmd::Read {
        uri,
        output,
        offset,
        length,
        chunk,
        ..
    } = a
    else {
        return Ok(super::EXIT_OK);
    };
    let mut stdout;
    let to = match output {
        None => CopyTo::Nowhere,
        Some(p) if p.as_os_str() == "-" => {
            stdout = std::io::stdout().lock();
            CopyTo::Writer(&mut stdout)
        }
        Some(p) => CopyTo::NewFile(p),
    };
    let access = super::context::get().access()?;
    let c = storage::copy_out(uri, &access, *offset, *length, *chunk, to)?;
    eprintln!("{}", c.summary());
    Ok(super::EXIT_OK)
}

/// Runs `kzrescue uri …`.
pub fn run_uri(a: &UriArgs) -> Result<u8> {
    let access = || super::context::get().access();
    match &a.cmd {
        UriCmd::Parse { uri: s, json } => {
            let u = StorageUri::parse(s)?;
            let doc = storage::parse_doc(&u)?;
            out::print(*json, storage::SCHEMA_PARSE, &doc, || {
                storage::parse_text(&u)
            })?;
        }
        UriCmd::Normalize { uri: s } => println!("{}", StorageUri::parse(s)?.normalize()),
        UriCmd::Map {
            uri: uris,
            via_iscsi: true,
            rescue_host,
            initiator,
            zone,
            json,
        } => {
            let (host, init) = (rescue_host.as_deref(), initiator.as_deref());
            let route = storage::zvol_route(uris, host, init, zone.as_deref(), &access)?;
            out::print_own(*json, &route, || comstar::render_text(&route))?;
        }
        UriCmd::Map {
            uri: uris, json, ..
        } => {
            let [s] = uris.as_slice() else {
                return Err(Error::Usage(
                    "uri map takes one URI (several only with --via-iscsi)".into(),
                ));
            };
            let m = storage::map(&StorageUri::parse(s)?, &access()?)?;
            let line = || format!("{}\n", storage::mapped_line(&m));
            out::print(*json, storage::SCHEMA_MAP, &m, line)?;
        }
    }
    Ok(super::EXIT_OK)
}

/// Runs `kzrescue iscsi …`.
pub fn run_iscsi(a: &IscsiArgs) -> Result<u8> {
    let access = super::context::get().access()?;
    match &a.cmd {
        IscsiCmd::Read { .. } => return run_read(&a.cmd),
        IscsiCmd::Discover { portal, json } => {
            let found = storage::discover(portal, &access)?;
            out::print(*json, storage::SCHEMA_DISCOVER, &found.json(), || {
                found.text()
            })?;
        }
        IscsiCmd::Inquiry { what, json } => {
            let found = storage::inquire(what, &access)?;
            out::print(*json, storage::SCHEMA_INQUIRY, &found.json(), || {
                found.text()
            })?;
        }
    }
    Ok(super::EXIT_OK)
}
