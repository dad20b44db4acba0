//! The examiner's view of a pool's history, read-only: the states still on
//! disk (every distinct uberblock of every label ring), what changed in a
//! dataset between two of them (from the birth txgs in block pointers), and
//! the files an older state holds that the head has lost.
//!
//! * [`history`] opens every state; [`timeline`](fn@timeline) lays them out newest first
//!   with the datasets and snapshots each changed.
//! * [`changes`](fn@changes) lists the objects of a dataset changed in a txg window,
//!   reading only the blocks born in it.
//! * [`deleted`](fn@deleted) lists deleted files (and orphans) with their last path and
//!   whether every block still verifies.
//!
//! What this rests on is described in `formats/history.md`.

pub mod changes;
pub mod deleted;
pub mod history;
pub mod objects;
mod text;
pub mod timeline;

pub use changes::{ChangesQuery, ChangesReport, Since, changes};
pub use deleted::{DeletedQuery, DeletedReport, deleted};
pub use history::{History, TxgClock, When};
pub use timeline::{Timeline, timeline};
