//! `kzrescue demo`: the two field failures on a bundled real image.
//!
//! The binary carries a small zstd-compressed GPT disk (made by
//! `testimages/make-demo.sh`): a real ZFS pool in slice 1 whose labels carry
//! the `phys_path`, `path` and `devid` a global-zone import leaves behind,
//! and host data in slice 8 sealed under a key the zone's keystore no longer
//! holds (the rolled-back-LUN case). The demo unpacks it into a temporary
//! directory and runs diagnose → repair → diagnose on it.

use super::diagnose::print_diagnosis;
use super::repair::repair_and_report;
use kzrescue::diagnose::{self, DiagnoseOptions};
use kzrescue::repair::transaction::TxOptions;
use kzrescue::repair::zone::RepairOptions;
use kzrescue::{Error, Result};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The bundled disk image (zstd).
const IMAGE: &[u8] = include_bytes!("../../testimages/demo-kz1.img.zst");
/// The zone's key as its host's keystore has it now (a demo key).
const KEY: &str = include_str!("../../testimages/demo-kz1.key");
/// The zone's configuration, as `zonecfg -z kz1 export` prints it.
const CONFIG: &str = include_str!("../../testimages/demo-kz1.cfg");
/// The storage URI the configuration names for the boot disk.
const STORAGE: &str = "dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0";

/// `kzrescue demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where to unpack the demo (default: a new directory under the system's
    /// temporary directory, kept afterwards so you can look at it).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Seconds between the two uberblock reads of the liveness check.
    #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = super::bounds::parse_interval)]
    liveness_interval: f64,
}

fn step(title: &str, cmd: &str) {
    println!();
    println!("################################################################");
    println!("# {title}");
    println!("# $ {cmd}");
    println!("################################################################");
    let _ = std::io::stdout().flush();
}

/// Runs the demo.
pub fn run(a: &DemoArgs) -> Result<u8> {
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| t.as_nanos());
            std::env::temp_dir().join(format!("kzrescue-demo-{}-{stamp}", std::process::id()))
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    let disk = dir.join("kz1-disk0.img");
    if disk.exists() {
        return Err(Error::Usage(format!(
            "{} already holds a demo; give another --dir",
            dir.display()
        )));
    }
    // Unpack the image.
    let mut dec = ruzstd::decoding::StreamingDecoder::new(IMAGE)
        .map_err(|e| Error::corrupt("bundled demo image (zstd)", 0, e))?;
    let mut out = std::fs::File::create(&disk)
        .map_err(|e| Error::io(format!("create {}", disk.display()), e))?;
    std::io::copy(&mut dec, &mut out)
        .map_err(|e| Error::io(format!("unpack the demo image to {}", disk.display()), e))?;
    out.sync_all()
        .map_err(|e| Error::io(format!("fsync {}", disk.display()), e))?;
    drop(out);
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys)
        .map_err(|e| Error::io(format!("create {}", keys.display()), e))?;
    let key = keys.join("kz1");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key)
            .map_err(|e| Error::io(format!("create {}", key.display()), e))?;
        f.write_all(KEY.as_bytes())
            .map_err(|e| Error::io(format!("write {}", key.display()), e))?;
    }
    let config = dir.join("kz1.zonecfg");
    std::fs::write(&config, CONFIG)
        .map_err(|e| Error::io(format!("write {}", config.display()), e))?;

    println!("kzrescue demo: a kernel zone `kz1` whose boot disk (a real ZFS pool on a");
    println!("Solaris-style GPT disk) went through the two field failures:");
    println!("  1. its root pool was imported in the global zone, which rewrote the");
    println!("     leaf's phys_path/path/devid in all four labels, and");
    println!("  2. its LUN was rolled back, so the host data on it is sealed under a");
    println!("     key the host's keystore no longer has.");
    println!("Everything is in {}", dir.display());
    println!(
        "  {}   the boot disk ({} = this file)",
        disk.display(),
        STORAGE
    );
    println!("  {}   `zonecfg -z kz1 export`", config.display());
    println!(
        "  {}   the zone's key as the host has it now",
        key.display()
    );

    let map = format!("{STORAGE}={}", disk.display());
    let opts = DiagnoseOptions {
        config_file: config.display().to_string(),
        zone: Some("kz1".into()),
        keys_dir: Some(keys.clone()),
        hostid: Some(0x1a2b3c4d),
        maps: vec![(STORAGE.to_string(), disk.display().to_string())],
        liveness_interval: Duration::from_secs_f64(a.liveness_interval.clamp(0.0, 60.0)),
        ..Default::default()
    };
    let cfg = kzrescue::zone::parse_config(CONFIG, Some("kz1"))?;
    let common = format!(
        "--zone-config {} --zone kz1 --keys {} --hostid 1a2b3c4d --map {map}",
        config.display(),
        keys.display()
    );

    step(
        "1. What is wrong? (read-only)",
        &format!("kzrescue diagnose {common}"),
    );
    let first = diagnose::diagnose(&cfg, &opts)?;
    print_diagnosis(&first.diagnosis);
    let broken = first.diagnosis.exit_code;
    drop(first);

    step(
        "2. Repair it: phys_path on the boot disk, and (asked for explicitly) new host data",
        &format!(
            "kzrescue repair {common} --reinit-hostdata --hostname demo-host --journal-dir {} --write",
            dir.display()
        ),
    );
    let ropts = RepairOptions {
        write: true,
        reinit_hostdata: true,
        hostname: Some("demo-host".into()),
        journal_dir: dir.clone(),
        tx: TxOptions {
            liveness_interval: opts.liveness_interval,
            access: opts.access.clone(),
        },
        radix: opts.radix,
        hostid: opts.hostid,
        ..Default::default()
    };
    let after = repair_and_report(&cfg, &opts, &ropts, false)?;

    step(
        "3. And again, from scratch",
        &format!("kzrescue diagnose {common}"),
    );
    let last = diagnose::diagnose(&cfg, &opts)?;
    print_diagnosis(&last.diagnosis);
    println!();
    println!(
        "demo: diagnose exited {broken} before the repair and {} after it; the undo journals in {} put every byte back (kzrescue undo JOURNAL --write).",
        last.diagnosis.exit_code,
        dir.display()
    );
    if broken != diagnose::EXIT_REPAIRABLE || after != 0 || last.diagnosis.exit_code != 0 {
        return Err(Error::Usage(
            "the demo did not go as it should (see above)".into(),
        ));
    }
    Ok(0)
}
