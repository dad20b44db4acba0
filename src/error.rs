//! The one error type of kzrescue.
//!
//! Every failure that comes from bytes on a disk names the structure that was
//! being decoded and the byte offset (absolute on the source it came from
//! where that is known) so that an admin can go and look with `dd`/`xxd`.

use std::fmt;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in kzrescue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused an I/O (open, read, write, flush).
    #[error("{context}: {source}")]
    Io {
        /// What we were doing, e.g. "read 114688 bytes at 0x4000 of disk.img".
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk do not form the structure they should.
    #[error("{structure} at byte offset {offset:#x}: {detail}")]
    Corrupt {
        /// Name of the on-disk structure, e.g. "vdev label 2 nvlist".
        structure: String,
        /// Byte offset where the problem was found.
        offset: u64,
        /// What is wrong, in one line.
        detail: String,
    },
    /// A read or write outside the source's bounds.
    #[error("{what}: {len} bytes at offset {offset:#x} reach past the end ({size:#x} bytes)")]
    OutOfBounds {
        /// Name of the source.
        what: String,
        /// Requested offset.
        offset: u64,
        /// Requested length.
        len: u64,
        /// Size of the source.
        size: u64,
    },
    /// Something valid that kzrescue does not implement.
    #[error("unsupported {structure}: {detail}")]
    Unsupported {
        /// Name of the structure or feature.
        structure: String,
        /// What exactly is unsupported.
        detail: String,
    },
    /// kzrescue refuses to do something because it would be unsafe.
    #[error("refused: {0}")]
    Refused(String),
    /// The user asked for something that cannot work (bad argument, missing file).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// A [`Error::Corrupt`] for `structure` at `offset`.
    pub fn corrupt(structure: impl Into<String>, offset: u64, detail: impl fmt::Display) -> Self {
        Error::Corrupt {
            structure: structure.into(),
            offset,
            detail: detail.to_string(),
        }
    }

    /// An [`Error::Io`] with a context line.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// An [`Error::Unsupported`].
    pub fn unsupported(structure: impl Into<String>, detail: impl fmt::Display) -> Self {
        Error::Unsupported {
            structure: structure.into(),
            detail: detail.to_string(),
        }
    }

    /// Adds `base` to the offset of a [`Error::Corrupt`] (used when a
    /// structure decoded from a buffer is reported at its place on disk).
    pub fn shifted(self, base: u64) -> Self {
        match self {
            Error::Corrupt {
                structure,
                offset,
                detail,
            } => Error::Corrupt {
                structure,
                offset: offset.saturating_add(base),
                detail,
            },
            other => other,
        }
    }
}
