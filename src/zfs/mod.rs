//! ZFS on-disk structures.

// The vdev: labels, their nvlists, uberblocks, and what reads them whole.
pub mod byteorder; // the two byte orders ZFS writes
pub mod eck; // the embedded checksum of labels and uberblock slots
pub mod label; // the four vdev labels and how they compare
pub mod nvlist; // name-value lists (the label config), XDR and native
pub mod relabel; // rebuilding a damaged label from a sibling
pub mod report; // what `label` and `uberblocks` report about one vdev
pub mod uberblock; // uberblock rings and the active uberblock
pub mod vdev_tree; // the `vdev_tree` of a label config
pub mod zdb; // `zdb -l`/`zdb -lu` text from what was read

// The pool: blocks, objects, datasets, files.
pub mod blkptr; // block pointers and DVAs
pub mod checksum; // fletcher, SHA-256 and the other block checksums
pub mod compress; // lz4, lzjb, gzip, zle, zstd decompression
pub mod dnode; // dnodes: an object's type, size and block pointers
pub mod dsl; // datasets, snapshots, their directory tree
pub mod leaf; // a leaf vdev's layout (labels, boot area) and its block reads
pub mod objset; // object sets (MOS, a dataset's objects)
pub mod pool; // reading blocks from the pool's vdevs (mirror, raidz)
pub mod raidz; // raidz geometry and reconstruction
pub mod sa; // system attributes (a file's metadata)
pub mod spa; // opening a pool: labels, uberblock, MOS
pub mod walk; // walking an object's block tree
pub mod zap; // ZAP objects (directories, properties)
pub mod zpl; // the ZFS POSIX layer: paths, files, directories

pub use byteorder::ByteOrder;
