//! ZFS on-disk structures.

pub mod byteorder;
pub mod nvlist;

pub use byteorder::ByteOrder;

// --- read path: eck, label, uberblock, vdev_tree
pub mod eck;
pub mod label;
pub mod uberblock;
pub mod vdev_tree;
// --- modules: label rebuild (recovery)
pub mod relabel;

// --- forensics: blkptr, compress, dnode, zap, dsl, zpl, raidz, …
pub mod blkptr;
pub mod checksum;
pub mod compress;
pub mod dnode;
pub mod dsl;
pub mod leaf;
pub mod objset;
pub mod pool;
pub mod raidz;
pub mod sa;
pub mod spa;
pub mod walk;
pub mod zap;
pub mod zpl;
