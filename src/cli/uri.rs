//! `kzrescue uri parse|normalize|map` (storage URIs as suriadm shows them)
//! and `kzrescue iscsi discover|inquiry` (what a portal and its LUs say).
//!
//! Every command that takes a target also takes a URI; these commands are
//! for looking at URIs and iSCSI targets themselves. CHAP credentials come
//! from the global `--chap-user` and `--chap-secret-file` (or
//! `KZRESCUE_CHAP_USER`, `KZRESCUE_CHAP_SECRET_FILE` / `KZRESCUE_CHAP_SECRET`),
//! never a secret on the command line.

use kzrescue::source::iscsi::{self, LuSelector, SessionConfig};
use kzrescue::source::uri::{self, IscsiLu, Mapped, StorageUri};
use kzrescue::zone::comstar;
use kzrescue::{Error, Result};
use std::path::PathBuf;

/// `schema` of `uri parse --json`.
pub const SCHEMA_PARSE: &str = "kzrescue.uri/1";
/// `schema` of `uri map --json` (without --via-iscsi).
pub const SCHEMA_MAP: &str = "kzrescue.uri-map/1";
/// `schema` of `iscsi discover --json`.
pub const SCHEMA_DISCOVER: &str = "kzrescue.iscsi-discover/1";
/// `schema` of `iscsi inquiry --json`.
pub const SCHEMA_INQUIRY: &str = "kzrescue.iscsi-inquiry/1";

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
        /// Bytes per read call.
        #[arg(long, default_value_t = 16 << 20)]
        chunk: usize,
    },
}

fn run_read(
    uri: &str,
    output: Option<&PathBuf>,
    offset: u64,
    length: Option<u64>,
    chunk: usize,
) -> Result<u8> {
    use std::io::Write;
    let src = kzrescue::target::open_source(uri, false, &super::context::get().access()?)?;
    let size = src.size();
    let end = match length {
        Some(l) => offset
            .checked_add(l)
            .filter(|&e| e <= size)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--offset {offset} --length {l} reaches past the end ({size} bytes)"
                ))
            })?,
        None => size,
    };
    if offset > end {
        return Err(Error::Usage(format!(
            "--offset {offset} is past the end ({size} bytes)"
        )));
    }
    let chunk = chunk.clamp(512, 256 << 20);
    let mut out: Option<Box<dyn Write>> = match output {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(Box::new(std::io::stdout().lock())),
        Some(p) => Some(Box::new(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .map_err(|e| Error::io(format!("create {}", p.display()), e))?,
        ))),
    };
    let mut buf = vec![0u8; chunk];
    let t = std::time::Instant::now();
    let mut pos = offset;
    while pos < end {
        let n = ((end - pos) as usize).min(chunk);
        src.read_at(pos, &mut buf[..n])?;
        if let Some(w) = out.as_mut() {
            w.write_all(&buf[..n])
                .map_err(|e| Error::io("writing the output", e))?;
        }
        pos += n as u64;
    }
    if let Some(w) = out.as_mut() {
        w.flush().map_err(|e| Error::io("writing the output", e))?;
    }
    let secs = t.elapsed().as_secs_f64();
    let bytes = end - offset;
    eprintln!(
        "read {bytes} bytes in {secs:.3} s ({:.1} MiB/s)",
        bytes as f64 / (1 << 20) as f64 / secs.max(1e-9)
    );
    Ok(super::EXIT_OK)
}

fn portal_with_port(p: &str) -> String {
    let has_port = if p.starts_with('[') {
        p.contains("]:")
    } else {
        p.contains(':')
    };
    if has_port {
        p.to_string()
    } else {
        format!("{p}:{}", uri::ISCSI_PORT)
    }
}

/// Runs `kzrescue uri …`.
pub fn run_uri(a: &UriArgs) -> Result<u8> {
    match &a.cmd {
        UriCmd::Parse { uri: s, json } => {
            let u = StorageUri::parse(s)?;
            if *json {
                let mut v = serde_json::to_value(&u).map_err(json_err)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("uri".into(), u.normalize().into());
                    if let Some(p) = u.solaris_path() {
                        o.insert("mapped-dev".into(), p.into());
                    }
                }
                super::out::print_json(SCHEMA_PARSE, &v)?;
            } else {
                for (k, v) in parse_rows(&u) {
                    println!("{k:>12}: {v}");
                }
            }
        }
        UriCmd::Normalize { uri: s } => println!("{}", StorageUri::parse(s)?.normalize()),
        UriCmd::Map {
            uri: uris,
            via_iscsi: true,
            rescue_host,
            initiator,
            zone,
            json,
            ..
        } => {
            let host = rescue_host.clone().ok_or_else(|| {
                Error::Usage(
                    "--via-iscsi needs --rescue-host ADDR: the Solaris host's address as this \
                     machine reaches it"
                        .into(),
                )
            })?;
            let req = comstar::RouteRequest {
                storage: uris.clone(),
                rescue_host: host,
                initiator: match initiator {
                    Some(i) => i.clone(),
                    None => super::context::get()
                        .access()?
                        .iscsi
                        .initiator_name
                        .unwrap_or_else(iscsi::session::default_initiator_name),
                },
                zone: zone.clone(),
            };
            let route = comstar::plan(&req)?;
            if *json {
                super::out::stream_json(&route)?;
            } else {
                print!("{}", comstar::render_text(&route));
            }
        }
        UriCmd::Map {
            uri: uris, json, ..
        } => {
            let [s] = uris.as_slice() else {
                return Err(Error::Usage(
                    "uri map takes one URI (several only with --via-iscsi)".into(),
                ));
            };
            let u = StorageUri::parse(s)?;
            let m = uri::map(&u, &super::context::get().access()?)?;
            if *json {
                super::out::print_json(SCHEMA_MAP, &m)?;
            } else {
                match m {
                    Mapped::Path { path } => println!("{}", path.display()),
                    Mapped::Iscsi { portal, lu } => match lu {
                        IscsiLu::Luname { luname } => {
                            println!("iscsi {portal} luname {}", luname.normalized())
                        }
                        IscsiLu::TargetLun { target, lun } => {
                            println!("iscsi {portal} target {target} lun {lun}")
                        }
                    },
                }
            }
        }
    }
    Ok(super::EXIT_OK)
}

fn parse_rows(u: &StorageUri) -> Vec<(&'static str, String)> {
    let mut r = vec![
        ("uri-type", u.uri_type().to_string()),
        ("uri", u.normalize()),
    ];
    match u {
        StorageUri::Dev { path } => r.push(("path", format!("/dev/{path}"))),
        StorageUri::File { path } => r.push(("path", path.clone())),
        StorageUri::Lu {
            initiator,
            target,
            luname,
        } => {
            if let Some(i) = initiator {
                r.push(("initiator", i.normalized()));
            }
            if let Some(t) = target {
                r.push(("target", t.normalized()));
            }
            r.push(("luname", luname.normalized()));
        }
        StorageUri::Iscsi { host, port, lu } => {
            if let Some(h) = host {
                r.push(("hostname", h.clone()));
                r.push(("port", port.unwrap_or(uri::ISCSI_PORT).to_string()));
            }
            match lu {
                IscsiLu::Luname { luname } => r.push(("luname", luname.normalized())),
                IscsiLu::TargetLun { target, lun } => {
                    r.push(("target", target.clone()));
                    r.push(("lun", lun.to_string()));
                }
            }
        }
        StorageUri::Nfs {
            user,
            group,
            host,
            port,
            path,
        } => {
            r.push(("user", user.clone()));
            r.push(("group", group.clone()));
            r.push(("hostname", host.clone()));
            if let Some(p) = port {
                r.push(("port", p.to_string()));
            }
            r.push(("path", path.clone()));
        }
    }
    if let Some(p) = u.solaris_path() {
        r.push(("mapped-dev", format!("{p} (on Solaris)")));
    }
    r
}

fn json_err(e: serde_json::Error) -> Error {
    Error::Usage(format!("JSON output: {e}"))
}

fn session_config(portal: &str) -> Result<SessionConfig> {
    Ok(super::context::get().access()?.iscsi.session(portal, None))
}

/// Runs `kzrescue iscsi …`.
pub fn run_iscsi(a: &IscsiArgs) -> Result<u8> {
    match &a.cmd {
        IscsiCmd::Read {
            uri,
            output,
            discard: _,
            offset,
            length,
            chunk,
        } => {
            return run_read(uri, output.as_ref(), *offset, *length, *chunk);
        }
        IscsiCmd::Discover { portal, json } => {
            let cfg = session_config(&portal_with_port(portal))?;
            let targets = iscsi::discover(&cfg)?;
            if *json {
                super::out::print_json(
                    SCHEMA_DISCOVER,
                    &serde_json::json!({ "portal": portal_with_port(portal), "targets": targets }),
                )?;
            } else {
                for t in &targets {
                    for addr in &t.addresses {
                        println!("{addr} {}", t.name);
                    }
                    if t.addresses.is_empty() {
                        println!("- {}", t.name);
                    }
                }
            }
        }
        IscsiCmd::Inquiry { what, json } => {
            let mut found = Vec::new();
            if uri::is_uri(what) {
                let u = StorageUri::parse(what)?;
                let Mapped::Iscsi { portal, lu } = uri::map(&u, &super::context::get().access()?)?
                else {
                    return Err(Error::Usage(format!("{what}: not an iscsi: URI")));
                };
                let cfg = session_config(&portal)?;
                let sel = match lu {
                    IscsiLu::Luname { luname } => LuSelector::Name(luname.normalized()),
                    IscsiLu::TargetLun { target, lun } => LuSelector::TargetLun { target, lun },
                };
                let (mut s, lun, mut info) = iscsi::locate(&cfg, &sel)?;
                info.write_protected = iscsi::write_protected(&mut s, lun)?;
                let target = s.config().target.clone().unwrap_or_default();
                let _ = s.logout();
                found.push((target, info));
            } else {
                let cfg = session_config(&portal_with_port(what))?;
                for t in iscsi::discover(&cfg)? {
                    let mut c = cfg.clone();
                    c.target = Some(t.name.clone());
                    let mut s = iscsi::Session::login(&c)?;
                    for lun in iscsi::report_luns(&mut s)? {
                        let mut info = iscsi::lun_info(&mut s, lun)?;
                        if info.inquiry.device_type == 0 && info.inquiry.qualifier == 0 {
                            info.write_protected = iscsi::write_protected(&mut s, lun)?;
                        }
                        found.push((t.name.clone(), info));
                    }
                    let _ = s.logout();
                }
            }
            if *json {
                let v: Vec<serde_json::Value> = found
                    .iter()
                    .map(|(t, i)| {
                        let mut v = serde_json::to_value(i).unwrap_or_default();
                        if let Some(o) = v.as_object_mut() {
                            o.insert("target".into(), t.clone().into());
                        }
                        v
                    })
                    .collect();
                super::out::print_json(
                    SCHEMA_INQUIRY,
                    &serde_json::json!({ "query": what, "lus": v }),
                )?;
            } else {
                for (t, i) in &found {
                    print_lun(t, i);
                }
            }
        }
    }
    Ok(super::EXIT_OK)
}

fn print_lun(target: &str, i: &iscsi::LunInfo) {
    use kzrescue::source::iscsi::scsi;
    println!("{target} LUN {}:", i.lun);
    println!(
        "  type      {} ({:#04x}), qualifier {}",
        scsi::device_type_name(i.inquiry.device_type),
        i.inquiry.device_type,
        i.inquiry.qualifier
    );
    println!(
        "  vendor    {:?}  product {:?}  revision {:?}",
        i.inquiry.vendor, i.inquiry.product, i.inquiry.revision
    );
    if let Some(c) = i.capacity {
        println!(
            "  capacity  {} blocks of {} bytes ({} bytes)",
            c.last_lba + 1,
            c.block_len,
            c.bytes().unwrap_or(0)
        );
    }
    match i.write_protected {
        Some(true) => println!("  write-protected yes (MODE SENSE WP bit)"),
        Some(false) => println!("  write-protected no"),
        None => {}
    }
    for d in &i.designators {
        let kind = match d.designator_type {
            1 => "T10 vendor",
            2 => "EUI-64",
            3 => "NAA",
            4 => "relative port",
            5 => "port group",
            8 => "SCSI name",
            _ => "other",
        };
        let assoc = ["LU", "port", "device", "?"][(d.association & 3) as usize];
        let val = if d.code_set == 1 {
            hex::encode(&d.value)
        } else {
            String::from_utf8_lossy(&d.value).into_owned()
        };
        println!(
            "  id        {kind} ({assoc}, {} bytes): {val}",
            d.value.len()
        );
    }
    for n in &i.lu_names {
        println!("  luname    {n}");
    }
}
