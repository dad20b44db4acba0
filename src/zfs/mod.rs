//! ZFS on-disk structures.

pub mod nvlist;

// --- read path: eck, label, uberblock, vdev_tree
pub mod eck;
pub mod label;
pub mod uberblock;
pub mod vdev_tree;
pub use eck::Endian;

// --- forensics: blkptr, compress, dnode, zap, dsl, zpl, raidz, …
