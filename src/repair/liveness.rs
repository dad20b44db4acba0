//! Is the pool imported somewhere? Read the uberblock rings twice.
//!
//! A pool that some host has imported writes a new uberblock into every
//! label's ring of every device whenever a txg with changes syncs (every few
//! seconds under any load), and MMP-enabled pools even when idle. So: read
//! all four 128 KiB rings of every given device, wait `interval`, read them
//! again. Any changed byte — a new best txg or any other slot — means the
//! pool is live, and a repair must not touch it.

use crate::error::{Error, Result};
use crate::source::{Source, read_vec};
use crate::zfs::label::{LABEL_COUNT, label_offsets};
use crate::zfs::uberblock::{self, SlotStatus};
use std::time::{Duration, Instant};

/// Offset of the uberblock ring inside a label.
const RING_OFFSET: u64 = 128 * 1024;
/// Size of the uberblock ring.
const RING_SIZE: usize = 128 * 1024;

/// The default wait between the two reads.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3);

/// One device to watch: its vdev (the slice, addressed from 0) and the
/// top-level `ashift` from its labels, which fixes the ring's slot size.
pub struct Watched<'a> {
    /// The vdev.
    pub vdev: &'a dyn Source,
    /// The top-level vdev's ashift, when the labels give one.
    pub ashift: Option<u64>,
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
}

/// One pass over all rings: the raw bytes per (device, label).
fn snapshot(devices: &[Watched<'_>]) -> Result<Vec<Vec<Vec<u8>>>> {
    devices
        .iter()
        .map(|d| {
            let offsets = label_offsets(d.vdev.size());
            (0..LABEL_COUNT)
                .map(|l| read_vec(d.vdev, offsets[l] + RING_OFFSET, RING_SIZE))
                .collect()
        })
        .collect()
}

/// The best verified uberblock txg in one snapshot.
fn best_txg(devices: &[Watched<'_>], snap: &[Vec<Vec<u8>>]) -> Option<u64> {
    let mut best: Option<u64> = None;
    for (d, rings) in devices.iter().zip(snap) {
        let offsets = label_offsets(d.vdev.size());
        let shifts: Vec<u32> = match d.ashift {
            Some(a) => vec![uberblock::slot_shift(a), uberblock::slot_shift_uncapped(a)],
            None => (10..=17).collect(),
        };
        for (l, ring) in rings.iter().enumerate() {
            for &shift in &shifts {
                let slots = uberblock::decode_ring(l, offsets[l] + RING_OFFSET, ring, shift);
                let txg = slots
                    .iter()
                    .filter(|s| s.status == SlotStatus::Valid)
                    .filter_map(|s| s.uberblock.as_ref().map(|u| u.txg))
                    .max();
                best = best.max(txg);
            }
        }
    }
    best
}

/// Reads every ring of every device twice, `interval` apart. Refuses (with
/// "the pool is imported somewhere") when any byte of any ring changed.
pub fn check(devices: &[Watched<'_>], interval: Duration) -> Result<Quiet> {
    let t0 = Instant::now();
    let first = snapshot(devices)?;
    let first_read = t0.elapsed();
    std::thread::sleep(interval);
    let t1 = Instant::now();
    let second = snapshot(devices)?;
    let second_read = t1.elapsed();
    let (b0, b1) = (best_txg(devices, &first), best_txg(devices, &second));
    for (d, (r0, r1)) in devices.iter().zip(first.iter().zip(&second)) {
        for (l, (a, b)) in r0.iter().zip(r1).enumerate() {
            if a != b {
                let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0) as u64;
                let abs = label_offsets(d.vdev.size())[l] + RING_OFFSET + at;
                let txg = |t: Option<u64>| t.map_or("none".to_string(), |t| t.to_string());
                return Err(Error::Refused(format!(
                    "{}: the uberblock ring of label {l} changed at byte offset {abs:#x} within {:.1} s \
                     (best txg {} → {}): the pool is imported somewhere; export it (or stop the \
                     zone) first",
                    d.vdev.name(),
                    interval.as_secs_f64(),
                    txg(b0),
                    txg(b1)
                )));
            }
        }
    }
    Ok(Quiet {
        best_txg: b1,
        first_read,
        second_read,
        interval,
    })
}
