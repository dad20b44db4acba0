//! The pool states still on disk: every distinct uberblock of every label
//! ring of every device, each opened as far as it still reads.
//!
//! One [`Pool`] (the vdev tree from the newest label configs) serves every
//! state: a block pointer names its bytes by DVA and checksum, whichever
//! uberblock led to it, and the reader checks every block it returns.

use crate::error::{Error, Result};
use crate::read::{Notice, PoolOptions};
use crate::source::SharedSource;
use crate::zfs::blkptr::BlkPtr;
use crate::zfs::dsl::{DatasetInfo, Mos};
use crate::zfs::label::{self, LabelStatus};
use crate::zfs::pool::Pool;
use crate::zfs::spa;
use crate::zfs::uberblock::{self, SlotStatus, Uberblock};
use crate::zfs::zpl::Zpl;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Where one copy of an uberblock sits.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct UbCopy {
    /// The device (source name).
    pub device: String,
    /// Label number, 0–3.
    pub label: usize,
    /// Slot number in that label's ring.
    pub slot: usize,
}

/// One distinct uberblock and what of the pool it still reaches.
pub struct State {
    /// The uberblock (its first copy; the others are byte-identical).
    pub uberblock: Uberblock,
    /// Every label slot holding it.
    pub copies: Vec<UbCopy>,
    /// Its root block pointer (the MOS object set).
    pub rootbp: BlkPtr,
    /// Whether the block the root block pointer names read and verified.
    pub rootbp_verifies: bool,
    /// The MOS, or why it could not be opened (the error names the
    /// structure and offset that failed).
    pub mos: Result<Mos>,
    /// Every dataset and snapshot the MOS lists (empty when it did not open).
    pub datasets: Vec<DatasetInfo>,
    /// DSL objects that could not be read in this state.
    pub dataset_errors: Vec<String>,
}

impl State {
    /// `ub_txg`.
    pub fn txg(&self) -> u64 {
        self.uberblock.txg
    }
    /// `ub_timestamp`.
    pub fn time(&self) -> u64 {
        self.uberblock.timestamp
    }
    /// Whether the MOS opened.
    pub fn readable(&self) -> bool {
        self.mos.is_ok()
    }
    /// Whether the MOS and every dataset's object set read.
    pub fn fully_readable(&self) -> bool {
        self.readable()
            && self.dataset_errors.is_empty()
            && self.datasets.iter().all(|d| d.problem.is_none())
    }
    /// The dataset or snapshot named `name` in this state.
    pub fn dataset(&self, name: &str) -> Option<&DatasetInfo> {
        self.datasets.iter().find(|d| d.name == name)
    }
}

/// A pool's states, newest first.
pub struct History {
    /// The block reader.
    pub pool: Arc<Pool>,
    /// The devices given.
    pub devices: Vec<String>,
    /// Every distinct valid uberblock, newest first (ZFS's order).
    pub states: Vec<State>,
    /// Index in `states` of the newest state whose MOS reads.
    pub head: usize,
    /// Uberblock slots whose embedded checksum failed (not states).
    pub bad_slots: usize,
    /// What the reader noted while assembling the pool.
    pub notes: Vec<String>,
}

impl History {
    /// Opens every target read-only (as [`crate::read::open_sources`]
    /// does) and every state of the pool they hold; the pool's notes are
    /// [`Notice::Note`]s too.
    pub fn open_targets(
        targets: &[String],
        opts: &PoolOptions,
        notice: &mut dyn FnMut(Notice),
    ) -> Result<History> {
        let h = History::open(&crate::read::open_sources(targets, opts, notice)?)?;
        for n in &h.notes {
            notice(Notice::Note(n.clone()));
        }
        Ok(h)
    }

    /// Reads every label ring of `sources` (the pool's vdevs) and opens
    /// every state they hold.
    pub fn open(sources: &[SharedSource]) -> Result<History> {
        let mut groups: Vec<(Uberblock, Vec<UbCopy>)> = Vec::new();
        let mut index: HashMap<Vec<u64>, usize> = HashMap::new();
        let mut bad_slots = 0;
        let mut devices = Vec::new();
        for src in sources {
            devices.push(src.name());
            let labels = label::read_labels(src.as_ref());
            let best = labels
                .iter()
                .filter(|l| l.config.is_some())
                .max_by_key(|l| (l.status == LabelStatus::Valid, l.u64("txg").unwrap_or(0)));
            let Some(best) = best else { continue };
            let ashift = best
                .config
                .as_ref()
                .and_then(|c| c.get_list("vdev_tree"))
                .and_then(|t| t.get_u64("ashift"));
            for l in labels.iter().filter(|l| l.config.is_some()) {
                for s in uberblock::read_ring(src.as_ref(), l, ashift) {
                    let Some(ub) = s.uberblock else { continue };
                    if s.status != SlotStatus::Valid {
                        bad_slots += 1;
                        continue;
                    }
                    if ub.txg == 0 {
                        continue;
                    }
                    let copy = UbCopy {
                        device: src.name(),
                        label: s.label,
                        slot: s.slot,
                    };
                    match index.get(&ub.words()) {
                        Some(&i) => groups[i].1.push(copy),
                        None => {
                            index.insert(ub.words(), groups.len());
                            groups.push((ub, vec![copy]));
                        }
                    }
                }
            }
        }
        groups.sort_by(|a, b| uberblock::compare(&b.0, &a.0));
        // The pool (vdev tree, features, notes) from the newest state that
        // opens; every state is then read through it.
        let mut opened = None;
        let mut first_err = None;
        for (ub, _) in groups.iter().take(32) {
            match spa::open(sources, Some(ub.txg)) {
                Ok(o) => {
                    opened = Some(o);
                    break;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let opened = match (opened, first_err) {
            (Some(o), _) => o,
            (None, Some(e)) => return Err(e),
            (None, None) => spa::open(sources, None)?,
        };
        let pool = opened.pool.clone();
        let notes: Vec<String> = opened
            .notes
            .iter()
            .filter(|n| !n.starts_with("no uberblock with txg"))
            .cloned()
            .collect();
        let mut states = Vec::with_capacity(groups.len());
        for (ub, copies) in groups {
            states.push(open_state(&pool, ub, copies));
        }
        // Reported where the newest uberblock says its MOS lies: the first
        // place a reader would look.
        let head = states.iter().position(|s| s.readable()).ok_or_else(|| {
            let at = states
                .first()
                .and_then(|s| s.rootbp.phys_offset())
                .unwrap_or(uberblock::RING_OFFSET);
            Error::corrupt(
                "uberblock rings",
                at,
                "no uberblock leads to a readable MOS",
            )
        })?;
        Ok(History {
            pool,
            devices,
            states,
            head,
            bad_slots,
            notes,
        })
    }

    /// The newest readable state.
    pub fn head(&self) -> &State {
        &self.states[self.head]
    }

    /// The newest readable state whose txg is at most `txg`.
    pub fn readable_at(&self, txg: u64) -> Option<&State> {
        self.states.iter().find(|s| s.txg() <= txg && s.readable())
    }

    /// The readable state whose txg is exactly `txg`.
    pub fn exact(&self, txg: u64) -> Option<&State> {
        self.states.iter().find(|s| s.txg() == txg && s.readable())
    }

    /// Every txg whose time is known: the uberblocks', and the creation
    /// txg of every dataset and snapshot any readable state lists.
    pub fn clock(&self) -> TxgClock {
        let mut known = BTreeMap::new();
        for s in &self.states {
            known.insert(s.txg(), s.time());
            for d in &s.datasets {
                if d.ds.creation_txg != 0 && d.ds.creation_time != 0 {
                    known.entry(d.ds.creation_txg).or_insert(d.ds.creation_time);
                }
            }
        }
        TxgClock { known }
    }

    /// Opens the ZPL file system of `ds` (read from some state).
    pub fn open_fs(&self, ds: &DatasetInfo) -> Result<Zpl> {
        open_fs(&self.pool, ds)
    }
}

/// Opens the ZPL file system of dataset `ds` (an encrypted one is refused:
/// [`crate::read::dataset_fs`]).
pub fn open_fs(pool: &Arc<Pool>, ds: &DatasetInfo) -> Result<Zpl> {
    crate::read::dataset_fs(pool, ds)
}

fn open_state(pool: &Pool, ub: Uberblock, copies: Vec<UbCopy>) -> State {
    let rootbp = ub.rootbp_decoded.clone();
    // the root block must read and verify before the MOS is decoded from it
    let (rootbp_verifies, mos) = match pool.read_block(&rootbp) {
        Ok(_) => (true, Mos::open(pool, &rootbp)),
        Err(e) => (
            false,
            Err(e.renamed(|s| format!("MOS object set block {} ({s})", rootbp.where_()))),
        ),
    };
    let mut datasets = Vec::new();
    let mut dataset_errors = Vec::new();
    if let Ok(m) = &mos {
        for d in m.datasets(pool) {
            match d {
                Ok(d) => datasets.push(d),
                Err(e) => dataset_errors.push(e.to_string()),
            }
        }
    }
    State {
        uberblock: ub,
        copies,
        rootbp,
        rootbp_verifies,
        mos,
        datasets,
        dataset_errors,
    }
}

/// What is known of when a txg synced.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct When {
    /// The txg.
    pub txg: u64,
    /// Its time (seconds since 1970, UTC) when an uberblock or a dataset
    /// creation records it.
    pub time: Option<u64>,
    /// Otherwise: the time of the nearest earlier txg whose time is known.
    pub not_before: Option<u64>,
    /// Otherwise: the time of the nearest later txg whose time is known.
    pub not_after: Option<u64>,
}

/// Txg → time, from the records that carry both.
#[derive(Clone, Debug, Default)]
pub struct TxgClock {
    known: BTreeMap<u64, u64>,
}

impl TxgClock {
    /// What is known of `txg`'s time.
    pub fn when(&self, txg: u64) -> When {
        if let Some(&t) = self.known.get(&txg) {
            return When {
                txg,
                time: Some(t),
                not_before: None,
                not_after: None,
            };
        }
        When {
            txg,
            time: None,
            not_before: self.known.range(..txg).next_back().map(|(_, t)| *t),
            not_after: self.known.range(txg..).next().map(|(_, t)| *t),
        }
    }

    /// The latest time txg `txg` can have synced at, when known.
    pub fn upper(&self, txg: u64) -> Option<u64> {
        let w = self.when(txg);
        w.time.or(w.not_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_brackets_unknown_txgs() {
        let c = TxgClock {
            known: [(10, 1000), (20, 2000)].into_iter().collect(),
        };
        assert_eq!(c.when(10).time, Some(1000));
        let w = c.when(15);
        assert_eq!(
            (w.time, w.not_before, w.not_after),
            (None, Some(1000), Some(2000))
        );
        assert_eq!(c.when(25).not_after, None);
        assert_eq!(c.upper(5), Some(1000));
    }
}
