//! The timeline of a pool: every state still on disk, newest first, and
//! what changed from one readable state to the one before it.
//!
//! A dataset changed between two states when the block pointer of its
//! object set differs; its logical birth is the txg it was last written
//! (ZFS rewrites the object-set block in every txg that touches the
//! dataset). Snapshots appear and disappear by name and guid.

use super::history::{History, State, UbCopy, When};
use serde::Serialize;
use std::collections::BTreeMap;

/// A dataset whose object set changed between two states.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DatasetChange {
    /// Full name.
    pub name: String,
    /// Logical birth txg of its object-set block pointer in this state.
    pub objset_birth: u64,
    /// The same in the previous readable state.
    pub previous_birth: u64,
}

/// One state of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineState {
    /// `ub_txg`.
    pub txg: u64,
    /// `ub_timestamp` (seconds since 1970, UTC).
    pub time: u64,
    /// Every label slot holding this uberblock.
    pub copies: Vec<UbCopy>,
    /// The root block pointer's first DVA (or "embedded"/"hole").
    pub rootbp: String,
    /// Whether the MOS object-set block reads and verifies.
    pub rootbp_verifies: bool,
    /// Whether the MOS (object directory, DSL root) opens.
    pub mos_reads: bool,
    /// Datasets and snapshots the MOS lists.
    pub datasets: usize,
    /// Of those, the ones whose object set does not read, with why.
    pub datasets_unreadable: Vec<String>,
    /// Why this state is not (wholly) readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The older readable state compared with (None for the oldest).
    pub compared_with: Option<u64>,
    /// Head datasets (and volumes) whose object set changed since then.
    pub changed: Vec<DatasetChange>,
    /// Datasets present now and not then.
    pub datasets_created: Vec<String>,
    /// Datasets present then and not now.
    pub datasets_destroyed: Vec<String>,
    /// Snapshots present now and not then.
    pub snapshots_created: Vec<String>,
    /// Snapshots present then and not now.
    pub snapshots_destroyed: Vec<String>,
}

/// A snapshot that reaches further back than the uberblocks.
#[derive(Debug, Clone, Serialize)]
pub struct OlderSnapshot {
    /// Full name.
    pub name: String,
    /// Its creation txg and time.
    pub created: When,
    /// Whether its object set reads.
    pub readable: bool,
}

/// The timeline of a pool.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// `kzrescue.timeline/2`.
    pub schema: &'static str,
    /// Pool name.
    pub pool: String,
    /// Pool guid.
    pub pool_guid: u64,
    /// SPA version.
    pub version: u64,
    /// The devices read.
    pub devices: Vec<String>,
    /// Every distinct valid uberblock, newest first.
    pub states: Vec<TimelineState>,
    /// Txg of the newest state whose MOS reads.
    pub head_txg: u64,
    /// The oldest state whose MOS reads: how far back the pool can be read.
    pub readable_back_to: Option<When>,
    /// The oldest state back to which every newer state reads wholly (MOS
    /// and every dataset).
    pub fully_readable_back_to: Option<When>,
    /// Snapshots created before the oldest uberblock: earlier states of
    /// their datasets, readable through them.
    pub older_snapshots: Vec<OlderSnapshot>,
    /// Uberblock slots whose embedded checksum fails.
    pub bad_slots: usize,
    /// Notes from assembling the pool.
    pub notes: Vec<String>,
}

fn heads(s: &State) -> BTreeMap<&str, (u64, &crate::zfs::blkptr::BlkPtr)> {
    s.datasets
        .iter()
        .filter(|d| !d.snapshot)
        .map(|d| (d.name.as_str(), (d.ds.guid, &d.ds.bp)))
        .collect()
}

fn snaps(s: &State) -> BTreeMap<u64, &str> {
    s.datasets
        .iter()
        .filter(|d| d.snapshot)
        .map(|d| (d.ds.guid, d.name.as_str()))
        .collect()
}

/// Builds the timeline of `h`.
pub fn timeline(h: &History) -> Timeline {
    let clock = h.clock();
    let mut states = Vec::new();
    for (i, s) in h.states.iter().enumerate() {
        let prev = h.states[i + 1..].iter().find(|p| p.readable());
        let mut t = TimelineState {
            txg: s.txg(),
            time: s.time(),
            copies: s.copies.clone(),
            rootbp: s.rootbp.where_(),
            rootbp_verifies: s.rootbp_verifies,
            mos_reads: s.readable(),
            datasets: s.datasets.len(),
            datasets_unreadable: s
                .datasets
                .iter()
                .filter_map(|d| d.problem.as_ref().map(|p| format!("{}: {p}", d.name)))
                .chain(s.dataset_errors.iter().cloned())
                .collect(),
            problem: s.mos.as_ref().err().map(|e| e.to_string()),
            compared_with: None,
            changed: Vec::new(),
            datasets_created: Vec::new(),
            datasets_destroyed: Vec::new(),
            snapshots_created: Vec::new(),
            snapshots_destroyed: Vec::new(),
        };
        if let (true, Some(p)) = (s.readable(), prev) {
            t.compared_with = Some(p.txg());
            let (now, then) = (heads(s), heads(p));
            for (name, (guid, bp)) in &now {
                match then.get(name) {
                    Some((g, old)) if g == guid => {
                        if bp != old {
                            t.changed.push(DatasetChange {
                                name: name.to_string(),
                                objset_birth: bp.birth,
                                previous_birth: old.birth,
                            });
                        }
                    }
                    Some(_) => {
                        // same name, another dataset: destroyed and made anew
                        t.datasets_destroyed.push(name.to_string());
                        t.datasets_created.push(name.to_string());
                    }
                    None => t.datasets_created.push(name.to_string()),
                }
            }
            for name in then.keys().filter(|n| !now.contains_key(*n)) {
                t.datasets_destroyed.push(name.to_string());
            }
            let (now, then) = (snaps(s), snaps(p));
            t.snapshots_created = now
                .iter()
                .filter(|(g, _)| !then.contains_key(g))
                .map(|(_, n)| n.to_string())
                .collect();
            t.snapshots_destroyed = then
                .iter()
                .filter(|(g, _)| !now.contains_key(g))
                .map(|(_, n)| n.to_string())
                .collect();
            t.snapshots_created.sort();
            t.snapshots_destroyed.sort();
        }
        states.push(t);
    }
    let readable_back_to = h
        .states
        .iter()
        .rev()
        .find(|s| s.readable())
        .map(|s| clock.when(s.txg()));
    let fully_readable_back_to = h
        .states
        .iter()
        .skip(h.head)
        .take_while(|s| s.fully_readable())
        .last()
        .map(|s| clock.when(s.txg()));
    let oldest_ub = h.states.last().map(|s| s.txg()).unwrap_or(0);
    let mut older_snapshots: Vec<OlderSnapshot> = h
        .head()
        .datasets
        .iter()
        .filter(|d| d.snapshot && d.ds.creation_txg < oldest_ub)
        .map(|d| OlderSnapshot {
            name: d.name.clone(),
            created: clock.when(d.ds.creation_txg),
            readable: d.problem.is_none() && !d.encrypted,
        })
        .collect();
    older_snapshots.sort_by_key(|s| std::cmp::Reverse(s.created.txg));
    Timeline {
        schema: "kzrescue.timeline/2",
        pool: h.pool.name.clone(),
        pool_guid: h.pool.guid,
        version: h.pool.version,
        devices: h.devices.clone(),
        states,
        head_txg: h.head().txg(),
        readable_back_to,
        fully_readable_back_to,
        older_snapshots,
        bad_slots: h.bad_slots,
        notes: h.notes.clone(),
    }
}
