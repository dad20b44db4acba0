//! ZFS on-disk structures.

pub mod nvlist;

// --- read path: eck, label, uberblock, vdev_tree

// --- forensics: blkptr, compress, dnode, zap, dsl, zpl, raidz, …
