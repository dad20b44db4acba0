//! Bytes read from a source, owned or borrowed from the source's map.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Bytes of a source at the time they were read: either a vector of their
/// own, or a range of a read-only image's memory map that they keep alive
/// (no copy, no fresh pages). Cheap to clone; dereferences to `[u8]`.
#[derive(Clone)]
pub struct Bytes {
    owner: Arc<dyn AsRef<[u8]> + Send + Sync>,
    range: Range<usize>,
}

impl Bytes {
    /// `range` of `owner` (which must lie within it).
    pub(crate) fn shared(owner: Arc<dyn AsRef<[u8]> + Send + Sync>, range: Range<usize>) -> Self {
        debug_assert!(range.end <= owner.as_ref().as_ref().len());
        Bytes { owner, range }
    }

    /// No bytes.
    pub fn empty() -> Self {
        Vec::new().into()
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        let range = 0..v.len();
        Bytes {
            owner: Arc::new(v),
            range,
        }
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // `range` was checked against the owner when it was made.
        &self.owner.as_ref().as_ref()[self.range.clone()]
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Bytes {}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.len())
    }
}

impl Default for Bytes {
    fn default() -> Self {
        Bytes::empty()
    }
}
