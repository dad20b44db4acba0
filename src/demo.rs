//! The bundled demonstration: a kernel zone's boot disk with the two field
//! failures, unpacked into a directory for diagnose → repair → diagnose.
//!
//! The image (made by `testimages/make-demo.sh`, zstd-compressed) is a
//! Solaris-style GPT disk: a real ZFS pool in slice 1 whose labels carry
//! the `phys_path`, `path` and `devid` a global-zone import leaves behind,
//! and host data in slice 8 sealed under a key the zone's keystore no
//! longer holds (the rolled-back-LUN case).

use crate::diagnose::DiagnoseOptions;
use crate::error::{Error, Result};
use crate::repair::transaction::TxOptions;
use crate::zone::ZoneConfig;
use crate::zone_repair::RepairOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The bundled disk image (zstd).
const IMAGE: &[u8] = include_bytes!("../testimages/demo-kz1.img.zst");
/// The zone's key as its host's keystore has it now (a demo key).
const KEY: &str = include_str!("../testimages/demo-kz1.key");
/// The zone's configuration, as `zonecfg -z kz1 export` prints it.
const CONFIG: &str = include_str!("../testimages/demo-kz1.cfg");
/// The storage URI the configuration names for the boot disk.
pub const STORAGE: &str = "dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0";
/// The zone's name.
pub const ZONE: &str = "kz1";
/// The hostid the demo's host data was sealed for.
pub const HOSTID: u32 = 0x1a2b3c4d;

/// The demo's files, unpacked.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The directory holding them.
    pub dir: PathBuf,
    /// The boot disk image (what [`STORAGE`] maps to).
    pub disk: PathBuf,
    /// The keystore directory.
    pub keys: PathBuf,
    /// The zone's key in it.
    pub key: PathBuf,
    /// `zonecfg -z kz1 export`.
    pub config: PathBuf,
}

/// A new directory under the system's temporary directory.
fn fresh_dir() -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_nanos());
    std::env::temp_dir().join(format!("kzrescue-demo-{}-{stamp}", std::process::id()))
}

/// Counts the compressed bytes the decoder has taken, so that a
/// decompression error names its place in the bundle.
struct Counted<'a> {
    inner: &'a [u8],
    taken: u64,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken += n as u64;
        Ok(n)
    }
}

/// Decompresses the bundled image to `disk` (fsynced).
fn unpack_image(disk: &Path) -> Result<()> {
    const WHAT: &str = "bundled demo image (zstd)";
    let mut counted = Counted {
        inner: IMAGE,
        taken: 0,
    };
    let header = ruzstd::decoding::StreamingDecoder::new(&mut counted);
    let mut dec = match header {
        Ok(d) => d,
        Err(e) => return Err(Error::corrupt(WHAT, counted.taken, e)),
    };
    let mut out = std::fs::File::create(disk)
        .map_err(|e| Error::io(format!("create {}", disk.display()), e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(Error::corrupt(WHAT, dec.get_ref().taken, e)),
        };
        out.write_all(&buf[..n])
            .map_err(|e| Error::io(format!("unpack the demo image to {}", disk.display()), e))?;
    }
    out.sync_all()
        .map_err(|e| Error::io(format!("fsync {}", disk.display()), e))
}

impl Demo {
    /// Unpacks the demo into `dir` (default: a new directory under the
    /// system's temporary directory); refuses a directory already holding one.
    pub fn unpack(dir: Option<PathBuf>) -> Result<Demo> {
        let dir = dir.unwrap_or_else(fresh_dir);
        let io = |what: &str, p: &Path| {
            let what = format!("{what} {}", p.display());
            move |e| Error::io(what, e)
        };
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let disk = dir.join("kz1-disk0.img");
        if disk.exists() {
            return Err(Error::Usage(format!(
                "{} already holds a demo; give another --dir",
                dir.display()
            )));
        }
        unpack_image(&disk)?;
        let keys = dir.join("keys");
        std::fs::create_dir_all(&keys).map_err(io("create", &keys))?;
        let key = keys.join("kz1");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key)
                .map_err(io("create", &key))?;
            f.write_all(KEY.as_bytes()).map_err(io("write", &key))?;
        }
        let config = dir.join("kz1.zonecfg");
        std::fs::write(&config, CONFIG).map_err(io("write", &config))?;
        Ok(Demo {
            dir,
            disk,
            keys,
            key,
            config,
        })
    }

    /// The zone's configuration.
    pub fn zone_config(&self) -> Result<ZoneConfig> {
        crate::zone::parse_config(CONFIG, Some(ZONE))
    }

    /// `--map STORAGE=DISK`: the boot disk's URI mapped to the image.
    pub fn map(&self) -> (String, String) {
        (STORAGE.to_string(), self.disk.display().to_string())
    }

    /// What `diagnose` is given: the configuration, the keystore, the
    /// hostid, the map, and the liveness check's interval (at most 60 s).
    pub fn diagnose_options(&self, liveness_interval: f64) -> DiagnoseOptions {
        DiagnoseOptions {
            config_file: self.config.display().to_string(),
            zone: Some(ZONE.into()),
            keys_dir: Some(self.keys.clone()),
            hostid: Some(HOSTID),
            maps: vec![self.map()],
            liveness_interval: Duration::from_secs_f64(liveness_interval.clamp(0.0, 60.0)),
            ..Default::default()
        }
    }

    /// What `repair` is given: write phys_path and new host data (for the
    /// host `demo-host`), journals in the demo's directory.
    pub fn repair_options(&self, d: &DiagnoseOptions) -> RepairOptions {
        RepairOptions {
            write: true,
            reinit_hostdata: true,
            hostname: Some("demo-host".into()),
            journal_dir: self.dir.clone(),
            tx: TxOptions {
                liveness_interval: d.liveness_interval,
                access: d.access.clone(),
                pause: None,
            },
            radix: d.radix,
            hostid: d.hostid,
            ..Default::default()
        }
    }

    /// What `kzrescue demo` says first: the story, and where the files are.
    pub fn intro(&self) -> String {
        let (dir, disk, key) = (self.dir.display(), self.disk.display(), self.key.display());
        let config = self.config.display();
        format!(
            "kzrescue demo: a kernel zone `kz1` whose boot disk (a real ZFS pool on a
Solaris-style GPT disk) went through the two field failures:
  1. its root pool was imported in the global zone, which rewrote the
     leaf's phys_path/path/devid in all four labels, and
  2. its LUN was rolled back, so the host data on it is sealed under a
     key the host's keystore no longer has.
Everything is in {dir}
  {disk}   the boot disk ({STORAGE} = this file)
  {config}   `zonecfg -z kz1 export`
  {key}   the zone's key as the host has it now
"
        )
    }

    /// The command-line options that say the same as [`Demo::diagnose_options`].
    pub fn common_args(&self) -> String {
        let (uri, disk) = self.map();
        format!(
            "--zone-config {} --zone {ZONE} --keys {} --hostid {HOSTID:x} --map {uri}={disk}",
            self.config.display(),
            self.keys.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_once_into_a_directory() {
        let dir = std::env::temp_dir().join(format!("kzrescue-demo-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let d = Demo::unpack(Some(dir.clone())).unwrap();
        assert!(std::fs::metadata(&d.disk).unwrap().len() > IMAGE.len() as u64);
        assert_eq!(std::fs::read_to_string(&d.key).unwrap(), KEY);
        assert!(d.zone_config().is_ok());
        assert!(d.common_args().contains("--hostid 1a2b3c4d"));
        let e = Demo::unpack(Some(dir.clone())).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Usage);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
