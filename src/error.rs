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

/// What sort of failure an [`Error`] is, for callers and tests that act on
/// the sort rather than the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// [`Error::Io`]: the operating system refused an I/O.
    Io,
    /// [`Error::Corrupt`]: bytes on disk are not the structure they should be.
    Corrupt,
    /// [`Error::OutOfBounds`]: a read or write past the end of a source.
    OutOfBounds,
    /// [`Error::Unsupported`]: valid, but not implemented.
    Unsupported,
    /// [`Error::Refused`]: unsafe, so not done.
    Refused,
    /// [`Error::Usage`]: what the caller passed cannot work.
    Usage,
}

impl Error {
    /// The sort of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::OutOfBounds { .. } => ErrorKind::OutOfBounds,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Refused(_) => ErrorKind::Refused,
            Error::Usage(_) => ErrorKind::Usage,
        }
    }

    /// The structure a [`Error::Corrupt`] or [`Error::Unsupported`] names
    /// (the source's name for [`Error::OutOfBounds`]).
    pub fn structure(&self) -> Option<&str> {
        match self {
            Error::Corrupt { structure, .. } | Error::Unsupported { structure, .. } => {
                Some(structure)
            }
            Error::OutOfBounds { what, .. } => Some(what),
            _ => None,
        }
    }

    /// The byte offset a [`Error::Corrupt`] or [`Error::OutOfBounds`] names.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Corrupt { offset, .. } | Error::OutOfBounds { offset, .. } => Some(*offset),
            _ => None,
        }
    }

    /// What is wrong, for a [`Error::Corrupt`] or [`Error::Unsupported`].
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::Corrupt { detail, .. } | Error::Unsupported { detail, .. } => Some(detail),
            _ => None,
        }
    }

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

    /// Renames the structure of a [`Error::Corrupt`] with `f` (used to say
    /// which label, dataset or object a decode error came from), keeping
    /// its offset and detail; other errors pass unchanged.
    pub fn renamed(self, f: impl FnOnce(&str) -> String) -> Self {
        self.replaced(|structure, offset| (f(&structure), offset))
    }

    /// Adds `base` to the offset of a [`Error::Corrupt`] (used when a
    /// structure decoded from a buffer is reported at its place on disk).
    pub fn shifted(self, base: u64) -> Self {
        self.replaced(|structure, offset| (structure, offset.saturating_add(base)))
    }

    /// A [`Error::Corrupt`] placed anew by `f` (structure, offset); other
    /// errors pass unchanged.
    fn replaced(self, f: impl FnOnce(String, u64) -> (String, u64)) -> Self {
        match self {
            Error::Corrupt {
                structure,
                offset,
                detail,
            } => {
                let (structure, offset) = f(structure, offset);
                Error::Corrupt {
                    structure,
                    offset,
                    detail,
                }
            }
            other => other,
        }
    }
}

/// A copy; an [`Error::Io`] is copied as a new `io::Error` of the same kind
/// and message (the OS error itself cannot be cloned).
impl Clone for Error {
    fn clone(&self) -> Self {
        match self {
            Error::Io { context, source } => Error::Io {
                context: context.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Error::Corrupt {
                structure,
                offset,
                detail,
            } => Error::Corrupt {
                structure: structure.clone(),
                offset: *offset,
                detail: detail.clone(),
            },
            Error::OutOfBounds {
                what,
                offset,
                len,
                size,
            } => Error::OutOfBounds {
                what: what.clone(),
                offset: *offset,
                len: *len,
                size: *size,
            },
            Error::Unsupported { structure, detail } => Error::Unsupported {
                structure: structure.clone(),
                detail: detail.clone(),
            },
            Error::Refused(s) => Error::Refused(s.clone()),
            Error::Usage(s) => Error::Usage(s.clone()),
        }
    }
}

/// Two errors are equal when they are of one kind and say the same.
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.to_string() == other.to_string()
    }
}

impl Eq for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_places() {
        let e = Error::corrupt("uberblock", 0x21000, "bad magic");
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert_eq!(e.structure(), Some("uberblock"));
        assert_eq!(e.offset(), Some(0x21000));
        let e = e.shifted(0x400000);
        assert_eq!(e.offset(), Some(0x421000));
        // The one-line form names the structure and its offset: a contract
        // for stderr.
        assert_eq!(
            e.to_string(),
            "uberblock at byte offset 0x421000: bad magic"
        );
        let io = Error::io("read x", std::io::Error::other("boom"));
        assert_eq!(io.kind(), ErrorKind::Io);
        assert_eq!(io.clone(), io);
        assert_eq!(io.offset(), None);
        assert_eq!(Error::Usage("u".into()).kind(), ErrorKind::Usage);
        assert_eq!(Error::Refused("r".into()).kind(), ErrorKind::Refused);
        assert_eq!(Error::unsupported("s", "d").kind(), ErrorKind::Unsupported);
    }
}
