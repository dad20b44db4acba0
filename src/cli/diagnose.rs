//! `kzrescue diagnose`: every check of a kernel zone's boot devices, from
//! its configuration, as findings with stable codes.

use kzrescue::Result;
use kzrescue::diagnose::{self, DiagnoseOptions, Diagnosis};
use kzrescue::zone::zvblk::UnitRadix;
use std::path::PathBuf;

/// What identifies the zone and its devices (shared by diagnose and repair).
#[derive(clap::Args, Debug, Clone)]
pub struct ZoneArgs {
    /// The zone configuration: `zonecfg -z ZONE export` output or /etc/zones/ZONE.xml.
    #[arg(long, value_name = "FILE")]
    zone_config: PathBuf,
    /// Zone name (export text does not carry it; XML does).
    #[arg(long, value_name = "NAME")]
    zone: Option<String>,
    /// Directory of zone key files, like /etc/zones/keys (the key is DIR/ZONE).
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// hostid (hex) of the host that will run the zone: host data owned by
    /// another hostid is reported.
    #[arg(long, value_name = "H", value_parser = super::bounds::parse_hostid)]
    hostid: Option<u32>,
    /// Open PATH where the configuration names URI (a copied image, or the
    /// device the URI is reachable as on this machine). Repeatable.
    #[arg(long = "map", value_name = "URI=PATH", value_parser = diagnose::parse_map)]
    maps: Vec<(String, String)>,
    /// Value of %{global-rootzpool} in storage templates.
    #[arg(long, value_name = "POOL", default_value = "rpool")]
    global_rootzpool: String,
    /// Write unit addresses of device ids ≥ 10 in decimal (default hex).
    #[arg(long)]
    decimal_unit: bool,
    /// Logical sector size of the disks (512 or 4096) when it cannot be detected.
    #[arg(long, value_name = "BYTES")]
    sector_size: Option<u32>,
    /// Accept a key file that group or others can read.
    #[arg(long)]
    insecure_key_perms: bool,
    /// Whose host data the zone uses: `kzrescue` (a disk without kzrescue
    /// host data is then a problem to repair) or `auto` (kzrescue's when its
    /// key file is given or a kzrescue copy is on the disk, else Oracle's,
    /// which kzrescue cannot read).
    #[arg(long, value_name = "WHOSE", default_value = "auto", value_parser = ["auto", "kzrescue"])]
    hostdata: String,
}

impl ZoneArgs {
    /// The diagnosis options these arguments give, the liveness check
    /// waiting `liveness_secs` between its two reads.
    pub fn options(&self, liveness_secs: f64) -> Result<DiagnoseOptions> {
        let liveness_interval = kzrescue::repair::liveness::interval_from_secs(liveness_secs)?;
        Ok(DiagnoseOptions {
            config_file: self.zone_config.display().to_string(),
            zone: self.zone.clone(),
            keys_dir: self.keys.clone(),
            hostid: self.hostid,
            maps: self.maps.clone(),
            global_rootzpool: self.global_rootzpool.clone(),
            radix: if self.decimal_unit {
                UnitRadix::Decimal
            } else {
                UnitRadix::Hex
            },
            liveness_interval,
            sector_size: self.sector_size,
            insecure_key_perms: self.insecure_key_perms,
            hostdata_kzrescue: self.hostdata == "kzrescue",
            access: super::context::get().access()?,
        })
    }

    /// The zone configuration, parsed.
    pub fn config(&self) -> Result<kzrescue::zone::ZoneConfig> {
        kzrescue::zone::read_config(&self.zone_config, self.zone.as_deref())
    }
}

/// `kzrescue diagnose`.
#[derive(clap::Args, Debug)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    zone: ZoneArgs,
    /// Seconds between the two uberblock reads of the liveness check (0 skips it).
    #[arg(long, value_name = "SECS", default_value_t = 3.0, value_parser = super::bounds::parse_interval)]
    liveness_interval: f64,
    /// Print the diagnosis as JSON (schema kzrescue.diagnose/3: every
    /// finding with its stable `code`).
    #[arg(long)]
    json: bool,
}

/// Prints a diagnosis for a person.
pub fn print_diagnosis(d: &Diagnosis) {
    print!("{}", d.text());
}

/// Runs `kzrescue diagnose`.
pub fn run_diagnose(a: &DiagnoseArgs) -> Result<u8> {
    let opts = a.zone.options(a.liveness_interval)?;
    let cfg = a.zone.config()?;
    let s = diagnose::diagnose(&cfg, &opts)?;
    super::out::print_own(a.json, &s.diagnosis, || s.diagnosis.text())?;
    Ok(s.diagnosis.exit_code)
}
