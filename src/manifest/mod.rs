//! Integrity manifests of ZPL file systems: every path with its type, mode,
//! owner, size, mtime and the SHA-256 of its contents, streamed in walk
//! order; and the comparison of two manifests.
//!
//! Walk order is the order a depth-first walk visits paths when it lists
//! each directory by name: paths compare component by component
//! ([`path_order`]), so a directory's subtree follows the directory
//! directly. A manifest can then be written, and two compared, while only a
//! bounded window of entries is held in memory ([`build::stream`],
//! [`diff::stream_files`]).
//!
//! A recursive manifest (`kzrescue manifest … DATASET -r`) holds a dataset
//! and its descendants, in dataset-name order (component by component as
//! well), each entry naming its dataset; the paths of each dataset are
//! relative to that dataset's root.

pub mod build;
pub mod diff;
pub mod run;

use crate::zfs::dsl::Mos;
use crate::zfs::objset::ObjsetType;
use crate::zfs::pool::Pool;
use crate::zfs::zpl::FileType;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The `schema` of a manifest document (2: integers are written as decimal
/// strings unless `--json-int`).
pub const SCHEMA: &str = "kzrescue.manifest/2";

/// The schemas [`diff`] reads: version 1 wrote integers as JSON numbers;
/// every integer field is read from a number or a decimal string.
pub const SCHEMAS_READ: [&str; 2] = ["kzrescue.manifest/1", SCHEMA];

/// Integers as JSON numbers or decimal strings.
mod int {
    use serde::Deserialize;
    use serde::de::{Deserializer, Error, Visitor};
    use std::marker::PhantomData;

    /// One integer of type `T`, from either spelling.
    pub struct Int<T>(pub T);

    impl<'de, T: TryFrom<u64> + TryFrom<i64> + std::str::FromStr> Deserialize<'de> for Int<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<T>(PhantomData<T>);
            impl<T: TryFrom<u64> + TryFrom<i64> + std::str::FromStr> Visitor<'_> for V<T> {
                type Value = Int<T>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an integer (a number or a decimal string)")
                }
                fn visit_u64<E: Error>(self, v: u64) -> Result<Int<T>, E> {
                    T::try_from(v)
                        .map(Int)
                        .map_err(|_| E::custom(format!("{v} out of range")))
                }
                fn visit_i64<E: Error>(self, v: i64) -> Result<Int<T>, E> {
                    T::try_from(v)
                        .map(Int)
                        .map_err(|_| E::custom(format!("{v} out of range")))
                }
                fn visit_str<E: Error>(self, v: &str) -> Result<Int<T>, E> {
                    v.parse()
                        .map(Int)
                        .map_err(|_| E::custom(format!("{v:?} is not an integer")))
                }
            }
            d.deserialize_any(V(PhantomData))
        }
    }

    /// An integer field.
    pub fn one<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64> + TryFrom<i64> + std::str::FromStr,
    {
        Int::<T>::deserialize(d).map(|i| i.0)
    }

    /// An optional integer field.
    pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<Int<u64>>::deserialize(d).map(|o| o.map(|i| i.0))
    }

    /// An optional pair of integers (a device number).
    pub fn pair<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u64; 2]>, D::Error> {
        Option::<[Int<u64>; 2]>::deserialize(d).map(|o| o.map(|[a, b]| [a.0, b.0]))
    }
}

/// One path of a manifest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Entry {
    /// The dataset this path is in (recursive manifests only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dataset: Option<String>,
    /// Path from the dataset root (lossy UTF-8).
    pub path: String,
    /// File type.
    #[serde(rename = "type")]
    pub kind: FileType,
    /// Permission bits (octal text).
    pub mode: String,
    /// Owner.
    #[serde(deserialize_with = "int::one")]
    pub uid: u64,
    /// Group.
    #[serde(deserialize_with = "int::one")]
    pub gid: u64,
    /// Size in bytes.
    #[serde(deserialize_with = "int::one")]
    pub size: u64,
    /// Modification time, seconds since the epoch (signed: negative before 1970).
    #[serde(deserialize_with = "int::one")]
    pub mtime: i64,
    /// Modification time, nanoseconds.
    #[serde(deserialize_with = "int::one")]
    pub mtime_nsec: u64,
    /// Link count.
    #[serde(deserialize_with = "int::one")]
    pub links: u64,
    /// Object number.
    #[serde(deserialize_with = "int::one")]
    pub object: u64,
    /// SHA-256 of the contents (regular files).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    /// Symlink target.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
    /// Device number (device nodes): major, minor.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "int::pair"
    )]
    pub rdev: Option<[u64; 2]>,
    /// Extended attributes: name → SHA-256.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub xattrs: BTreeMap<String, String>,
    /// Why the contents could not be read.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// A manifest document held whole in memory (small file systems, tests);
/// [`build::stream`] writes the same document without holding it.
#[derive(Serialize, Deserialize, Debug)]
pub struct Manifest {
    /// [`SCHEMA`].
    pub schema: String,
    /// Pool name.
    pub pool: String,
    /// Dataset (with @snap); for a recursive manifest, the top one.
    pub dataset: String,
    /// Whether the manifest holds the dataset's descendants too.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub recursive: bool,
    /// Txg of the uberblock read.
    #[serde(deserialize_with = "int::one")]
    pub txg: u64,
    /// Every path, in walk order.
    pub entries: Vec<Entry>,
    /// Paths that could not be read at all.
    pub errors: Vec<String>,
    /// How the blocks read for this manifest were checked.
    #[serde(default)]
    pub blocks: BlockCounts,
    /// Files claiming more bytes than this were not hashed (`--max-file-size`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "int::opt"
    )]
    pub max_file_size: Option<u64>,
}

/// Blocks read while building a manifest, by what their checksum said. An
/// examiner relies only on what was verified: unverified blocks use a
/// checksum kzrescue does not compute (or none) and could have been altered
/// without notice; repaired ones failed on one copy and were read from
/// another copy or rebuilt from parity.
#[derive(Serialize, Deserialize, Debug, Default, Clone, Copy, PartialEq)]
pub struct BlockCounts {
    /// Read and checksum-verified.
    #[serde(deserialize_with = "int::one")]
    pub verified: u64,
    /// Read without verification.
    #[serde(deserialize_with = "int::one")]
    pub unverified: u64,
    /// Verified after a bad copy was passed over.
    #[serde(deserialize_with = "int::one")]
    pub repaired: u64,
}

impl std::ops::Add for BlockCounts {
    type Output = BlockCounts;
    /// The sum of two counts.
    fn add(self, o: BlockCounts) -> BlockCounts {
        BlockCounts {
            verified: self.verified + o.verified,
            unverified: self.unverified + o.unverified,
            repaired: self.repaired + o.repaired,
        }
    }
}

/// Walk order of two paths (or dataset names): component by component,
/// each component by its bytes, a path before the paths below it. `/a`,
/// `/a/b`, `/a.txt` is walk order (plain string order would put `/a.txt`
/// before `/a/b`).
pub fn path_order(a: &str, b: &str) -> Ordering {
    let mut x = a.split('/');
    let mut y = b.split('/');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => match p.as_bytes().cmp(q.as_bytes()) {
                Ordering::Equal => {}
                o => return o,
            },
        }
    }
}

/// The name of dataset `name` relative to the top dataset `top` of a
/// recursive manifest (`""` for the top itself, `/child` below it), snapshot
/// names left out: the key that pairs datasets of two manifests.
pub fn relative_dataset(top: &str, name: &str) -> String {
    let head = |s: &str| s.split('@').next().unwrap_or(s).to_string();
    let (top, name) = (head(top), head(name));
    match name.strip_prefix(&top) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_string(),
        _ => name,
    }
}

/// The file systems a recursive manifest of `top` covers, in walk order:
/// `top` and every descendant file system (volumes have no paths and are
/// left out), as `name@snap` for each that has snapshot `snap` when `top`
/// names one; snapshots themselves only that way. Datasets the MOS cannot
/// describe are returned as errors.
pub fn descendants(mos: &Mos, pool: &Pool, top: &str) -> (Vec<String>, Vec<String>) {
    let (head, snap) = match top.split_once('@') {
        Some((h, s)) => (h, Some(s)),
        None => (top, None),
    };
    let mut names = Vec::new();
    let mut errors = Vec::new();
    for d in mos.datasets(pool) {
        let d = match d {
            Ok(d) => d,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        let (dhead, dsnap) = match d.name.split_once('@') {
            Some((h, s)) => (h, Some(s)),
            None => (d.name.as_str(), None),
        };
        let below = dhead == head || dhead.strip_prefix(head).is_some_and(|r| r.starts_with('/'));
        let fs = !matches!(d.os_type, Some(ObjsetType::Zvol) | Some(ObjsetType::Meta));
        if below && fs && dsnap == snap {
            names.push(d.name.clone());
        }
    }
    names.sort_by(|a, b| path_order(a, b));
    (names, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_order_is_component_order() {
        let mut v = vec!["/a.txt", "/a/b", "/", "/a", "/b", "/a/b/c", "/a-"];
        v.sort_by(|a, b| path_order(a, b));
        assert_eq!(v, ["/", "/a", "/a/b", "/a/b/c", "/a-", "/a.txt", "/b"]);
        let mut d = vec!["p/x.y", "p/x/z", "p", "p/x"];
        d.sort_by(|a, b| path_order(a, b));
        assert_eq!(d, ["p", "p/x", "p/x/z", "p/x.y"]);
    }

    #[test]
    fn datasets_pair_by_their_name_below_the_top() {
        assert_eq!(relative_dataset("rpool/z", "rpool/z"), "");
        assert_eq!(relative_dataset("rpool/z@s", "rpool/z/a@s"), "/a");
        assert_eq!(relative_dataset("rpool/z", "rpool/zz"), "rpool/zz");
    }
}
