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

// Layers, lowest first; no module imports from a layer above its own.
// Shared by every layer.
pub mod error; // the one error type: structure, real offset, kind
pub mod input; // the small files a user hands kzrescue (journals, keys)
pub mod json; // the JSON spelling of every document; text safe on a terminal
pub mod shell; // quoting the words of the shell commands kzrescue suggests
pub mod time; // calendar arithmetic for on-disk times
pub mod tz; // local time from TZ / TZif files, for `ls --local`

// Bytes: images, block devices, storage URIs, iSCSI LUs.
pub mod source; // the one seam through which bytes are read and written
pub mod storage; // storage URIs and iSCSI LUs as `uri` and `iscsi` show them

// Disks: partition tables, and from a target to one vdev's bytes.
pub mod partition; // GPT, Sun SMI/VTOC, or none
pub mod target; // what the user typed -> the vdev's bytes
pub mod zone; // kernel-zone configuration, naming, the COMSTAR route

// ZFS: on-disk structures and what reads them.
pub mod zfs; // labels, uberblocks, nvlists, block pointers, the object layer

// Reading a pool's files: opening targets once, specs, export, history.
pub mod export; // files out to a directory or tar archive
pub mod forensic; // a pool's history: timeline, changes, deleted
pub mod manifest; // integrity manifests of ZPL file systems
pub mod read; // a pool opened once from its targets; POOL/DATASET:/path specs
pub mod scan; // vdevs found by their labels, not the partition table

// Writers: every byte through one journalled transaction.
pub mod hostdata; // kernel-zone host data (kzrescue's own container)
pub mod recovery; // below the labels: label rebuild, table restore
pub mod repair; // plan, journal, apply, verify

// Workflows over whole zones.
pub mod demo; // the bundled demonstration disk, unpacked for diagnose and repair
pub mod diagnose; // a kernel zone's boot devices, findings with stable codes
pub mod zone_repair; // diagnose, repair what the findings allow, diagnose again

pub use error::{Error, ErrorKind, Result};
