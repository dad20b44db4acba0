//! kzrescue: offline rescue and inspection of Solaris kernel-zone root disks.
//!
//! The library reads (and, through journalled repairs, writes) the on-disk
//! structures a kernel zone's boot disk carries: partition tables, ZFS vdev
//! labels and uberblocks, and kzrescue's host-data container. The data flows
//! one way: a [`source::Source`] → a partition table → labels / uberblocks.
//!
//! Only `source/file.rs` (memory-mapping an image) and the AVX2 call in
//! `zfs/checksum.rs` may use `unsafe`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod export;
pub mod input;
pub mod source;
pub mod zfs;

// --- modules: read path (partition, target)
pub mod partition;
pub mod read;
pub mod target;
pub mod time;
pub mod tz;

// --- modules: physpath repair (repair, zone::zvblk)
pub mod repair;

// --- modules: hostdata
pub mod hostdata;

// --- modules: manifests
pub mod manifest;

// --- modules: zone config / diagnose
pub mod diagnose;
// --- modules: recovery below the labels (scan, label repair, table restore)
pub mod recovery;
pub mod scan;
pub mod zone;

// --- modules: forensic history (timeline, changes, deleted)
pub mod forensic;

pub use error::{Error, ErrorKind, Result};
