//! Is the pool imported somewhere? Read the uberblock rings twice, from the
//! device itself.
//!
//! A pool that some host has imported writes a new uberblock into every
//! label's ring of every device whenever a txg with changes syncs (every few
//! seconds under any load), and MMP-enabled (`multihost=on`) pools even when
//! idle. So: read all four 128 KiB rings of every given device, wait
//! `interval`, read them again. Any changed byte — a new best txg or any
//! other slot — means the pool is live, and a repair must not touch it.
//!
//! Both reads go through [`Source::read_uncached`]: `O_DIRECT` on block
//! devices and image files (or the page cache dropped where `O_DIRECT` is
//! refused), a READ(16) to the LU for iSCSI. A second host writing a shared
//! LU changes the device, not this host's page cache; a cached second read
//! would see nothing. [`Quiet::devices`] says which way each device was read
//! and what its labels and uberblocks say about the last writer (pool state,
//! hostid, MMP): evidence that is reported, while the ring comparison decides.

use crate::error::{Error, Result};
use crate::source::{ReadPath, Source};
use crate::zfs::label::{self, LABEL_COUNT, LabelStatus, label_offsets};
use crate::zfs::uberblock::{self, SlotStatus, Uberblock};
use std::time::{Duration, Instant};

/// Offset of the uberblock ring inside a label.
const RING_OFFSET: u64 = 128 * 1024;
/// Size of the uberblock ring.
const RING_SIZE: usize = 128 * 1024;

/// The default wait between the two reads.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3);

/// The accepted range of `--liveness-interval`, in seconds, for every
/// command (one place, so that every writer and `diagnose` agree).
pub const INTERVAL_RANGE: std::ops::RangeInclusive<f64> = 0.0..=3600.0;

/// Parses `--liveness-interval SECS` as a command line gives it: a finite
/// number of seconds within [`INTERVAL_RANGE`].
pub fn parse_interval(s: &str) -> Result<f64> {
    let (lo, hi) = (INTERVAL_RANGE.start(), INTERVAL_RANGE.end());
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && INTERVAL_RANGE.contains(&v) => Ok(v),
        Ok(_) => Err(Error::Usage(format!(
            "{s}: the interval must be between {lo} and {hi} seconds"
        ))),
        Err(_) => Err(Error::Usage(format!("{s} is not a number of seconds"))),
    }
}

/// Checks a `--liveness-interval` value (seconds) and turns it into a
/// duration: finite, within [`INTERVAL_RANGE`].
pub fn interval_from_secs(secs: f64) -> Result<Duration> {
    if !secs.is_finite() || !INTERVAL_RANGE.contains(&secs) {
        return Err(Error::Usage(format!(
            "--liveness-interval {secs}: must be between {} and {} seconds",
            INTERVAL_RANGE.start(),
            INTERVAL_RANGE.end()
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// One device to watch: its vdev (the slice, addressed from 0) and the
/// top-level `ashift` from its labels, which fixes the ring's slot size.
pub struct Watched<'a> {
    /// The vdev.
    pub vdev: &'a dyn Source,
    /// The top-level vdev's ashift, when the labels give one.
    pub ashift: Option<u64>,
}

/// The MMP (multihost) fields of a device's best uberblock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mmp {
    /// `ub_mmp_delay`: ns between the last two MMP writes (0: MMP off).
    pub delay_ns: u64,
    /// Write interval in ms from `ub_mmp_config`, when recorded.
    pub write_interval_ms: Option<u32>,
    /// Fail intervals from `ub_mmp_config`, when recorded.
    pub fail_intervals: Option<u16>,
    /// MMP sequence number, when recorded.
    pub seq: Option<u16>,
}

/// What one device's labels and rings say about who last wrote the pool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceLiveness {
    /// The vdev's name.
    pub name: String,
    /// How the rings were read (`direct`, `cache-dropped`, `iscsi`, `plain`).
    pub read: String,
    /// The same, in words.
    pub read_detail: String,
    /// `state` of the first valid label (0 ACTIVE, 1 EXPORTED, 2 DESTROYED).
    pub pool_state: Option<u64>,
    /// `hostid` of the first valid label: the last host to import the pool.
    pub hostid: Option<u64>,
    /// `hostname` of the first valid label.
    pub hostname: Option<String>,
    /// MMP fields of the best uberblock, when its MMP magic is set.
    pub mmp: Option<Mmp>,
}

impl DeviceLiveness {
    /// One line of evidence for a report, `None` when there is nothing to say
    /// beyond how it was read.
    pub fn evidence(&self, expected_hostid: Option<u32>) -> Vec<String> {
        let mut out = Vec::new();
        if self.pool_state == Some(0) {
            let who = match (self.hostid, &self.hostname) {
                (Some(h), Some(n)) => format!("hostid {h:08x} ({n})"),
                (Some(h), None) => format!("hostid {h:08x}"),
                (None, Some(n)) => format!("host {n}"),
                (None, None) => "an unrecorded host".into(),
            };
            let other = match (expected_hostid, self.hostid) {
                (Some(e), Some(h)) if u64::from(e) != h => " (not the given --hostid)",
                _ => "",
            };
            out.push(format!(
                "{}: the labels say ACTIVE (state 0), last imported by {who}{other}: that host may \
                 still have the pool imported (or halted without exporting it, as a kernel zone's \
                 root pool always is); the ring comparison decides",
                self.name
            ));
        }
        if let Some(m) = &self.mmp
            && m.delay_ns != 0
        {
            out.push(format!(
                "{}: multihost (MMP) is on: ub_mmp_delay {} ns, write interval {} ms, fail \
                 intervals {}: an importing host rewrites an uberblock at least that often",
                self.name,
                m.delay_ns,
                m.write_interval_ms
                    .map_or("unrecorded".into(), |v| v.to_string()),
                m.fail_intervals
                    .map_or("unrecorded".into(), |v| v.to_string())
            ));
        }
        out
    }
}

/// What a quiet check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quiet {
    /// The best (active) uberblock txg over all devices, if any verifies.
    pub best_txg: Option<u64>,
    /// Time the first read of all rings took.
    pub first_read: Duration,
    /// Time the second read took.
    pub second_read: Duration,
    /// The wait between them.
    pub interval: Duration,
    /// Per device, in input order: how it was read and its label evidence.
    pub devices: Vec<DeviceLiveness>,
}

/// One pass over all rings: the raw bytes per (device, label), and how each
/// device was read.
type Snapshot = (Vec<Vec<Vec<u8>>>, Vec<ReadPath>);

/// Reads one [`Snapshot`] (a device read two ways reports the weaker one).
fn snapshot(devices: &[Watched<'_>]) -> Result<Snapshot> {
    let mut all = Vec::new();
    let mut ways = Vec::new();
    for d in devices {
        let offsets = label_offsets(d.vdev.size());
        let mut rings = Vec::new();
        let mut way = None;
        for off in offsets.iter().take(LABEL_COUNT) {
            let mut buf = vec![0u8; RING_SIZE];
            let w = d.vdev.read_uncached(off + RING_OFFSET, &mut buf)?;
            // A device read two ways reports the weaker one.
            if way.is_none() || w != ReadPath::Direct {
                way = Some(w);
            }
            rings.push(buf);
        }
        ways.push(way.unwrap_or(ReadPath::Plain));
        all.push(rings);
    }
    Ok((all, ways))
}

fn shifts(ashift: Option<u64>) -> Vec<u32> {
    match ashift {
        Some(a) => vec![uberblock::slot_shift(a), uberblock::slot_shift_uncapped(a)],
        None => (10..=17).collect(),
    }
}

/// The best verified uberblock of one device's rings.
fn best_of(d: &Watched<'_>, rings: &[Vec<u8>]) -> Option<Uberblock> {
    let offsets = label_offsets(d.vdev.size());
    let mut best: Option<Uberblock> = None;
    for (l, ring) in rings.iter().enumerate() {
        for &shift in &shifts(d.ashift) {
            for s in uberblock::decode_ring(l, offsets[l] + RING_OFFSET, ring, shift) {
                if s.status != SlotStatus::Valid {
                    continue;
                }
                if let Some(u) = s.uberblock
                    && best
                        .as_ref()
                        .is_none_or(|b| uberblock::compare(&u, b).is_gt())
                {
                    best = Some(u);
                }
            }
        }
    }
    best
}

/// The best verified uberblock txg in one snapshot.
fn best_txg(devices: &[Watched<'_>], snap: &[Vec<Vec<u8>>]) -> Option<u64> {
    devices
        .iter()
        .zip(snap)
        .filter_map(|(d, rings)| best_of(d, rings).map(|u| u.txg))
        .max()
}

fn evidence(d: &Watched<'_>, rings: &[Vec<u8>], way: &ReadPath) -> DeviceLiveness {
    let labels = label::read_labels(d.vdev);
    let first = labels
        .iter()
        .find(|l| l.status == LabelStatus::Valid && l.config.is_some());
    let mmp = best_of(d, rings).filter(|u| u.mmp_valid()).map(|u| Mmp {
        delay_ns: u.mmp_delay,
        write_interval_ms: u.mmp_write_interval(),
        fail_intervals: u.mmp_fail_intervals(),
        seq: u.mmp_seq(),
    });
    DeviceLiveness {
        name: d.vdev.name(),
        read: way.kind().to_string(),
        read_detail: way.describe(),
        pool_state: first.and_then(|l| l.u64("state")),
        hostid: first.and_then(|l| l.u64("hostid")),
        hostname: first
            .and_then(|l| l.config.as_ref())
            .and_then(|c| c.get_str("hostname"))
            .map(str::to_string),
        mmp,
    }
}

/// Reads every ring of every device twice, `interval` apart, from the
/// device (see the module doc). Refuses (with "the pool is imported
/// somewhere") when any byte of any ring changed.
pub fn check(devices: &[Watched<'_>], interval: Duration) -> Result<Quiet> {
    let t0 = Instant::now();
    let (first, _) = snapshot(devices)?;
    let first_read = t0.elapsed();
    std::thread::sleep(interval);
    let t1 = Instant::now();
    let (second, ways) = snapshot(devices)?;
    let second_read = t1.elapsed();
    let (b0, b1) = (best_txg(devices, &first), best_txg(devices, &second));
    for ((d, (r0, r1)), way) in devices.iter().zip(first.iter().zip(&second)).zip(&ways) {
        for (l, (a, b)) in r0.iter().zip(r1).enumerate() {
            if a != b {
                let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0) as u64;
                let abs = label_offsets(d.vdev.size())[l] + RING_OFFSET + at;
                let txg = |t: Option<u64>| t.map_or("none".to_string(), |t| t.to_string());
                return Err(Error::Refused(format!(
                    "{}: the uberblock ring of label {l} changed at byte offset {abs:#x} within {:.1} s \
                     (best txg {} → {}; read {}): the pool is imported somewhere; export it (or stop the \
                     zone) first",
                    d.vdev.name(),
                    interval.as_secs_f64(),
                    txg(b0),
                    txg(b1),
                    way.kind()
                )));
            }
        }
    }
    let devices_out = devices
        .iter()
        .zip(&second)
        .zip(&ways)
        .map(|((d, rings), way)| evidence(d, rings, way))
        .collect();
    Ok(Quiet {
        best_txg: b1,
        first_read,
        second_read,
        interval,
        devices: devices_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_stay_finite_and_in_range() {
        for bad in ["NaN", "inf", "-1", "1e300", "3600.5", "x"] {
            let e = parse_interval(bad).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::Usage, "{bad}");
        }
        assert_eq!(parse_interval("0").ok(), Some(0.0));
        assert_eq!(parse_interval(" 3600 ").ok(), Some(3600.0));
    }

    #[test]
    fn one_interval_range() {
        assert!(interval_from_secs(0.0).is_ok());
        assert!(interval_from_secs(3600.0).is_ok());
        for bad in [-0.1, 3600.5, f64::NAN, f64::INFINITY] {
            assert!(interval_from_secs(bad).is_err(), "{bad}");
        }
    }
}
