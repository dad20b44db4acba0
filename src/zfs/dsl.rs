//! The DSL: the tree of DSL directories (one per file system or volume
//! name) and DSL datasets (the head and each snapshot) kept in the MOS.
//!
//! MOS object 1 is the object directory, a ZAP whose `root_dataset` entry
//! names the root DSL directory. A directory's bonus (`dsl_dir_phys_t`)
//! gives its head dataset, its child-directory ZAP (name → directory) and
//! its property ZAP; a dataset's bonus (`dsl_dataset_phys_t`) gives its
//! snapshot-name ZAP (name → dataset), creation txg and time, referenced
//! bytes, flags and the block pointer of its object set. See
//! `formats/dsl.md`.

use crate::error::{Error, Result};
use crate::zfs::blkptr::{BLKPTR_SIZE, BlkPtr};
use crate::zfs::dnode::{Dnode, otype};
use crate::zfs::objset::{ObjSet, ObjsetType};
use crate::zfs::pool::Pool;
use crate::zfs::zap;
use std::collections::{BTreeMap, HashMap};

/// MOS object-directory object number.
pub const DIRECTORY_OBJECT: u64 = 1;
/// Deepest DSL directory nesting we follow (a guard against loops).
const MAX_DEPTH: usize = 64;

/// Fails unless MOS object `dn`'s bonus has DMU type `bonustype`: a
/// reference from one DSL object to another names a directory or a dataset,
/// and following it into any other object would read unrelated bytes as
/// object numbers and block pointers. (The object type itself may have been
/// turned into a ZAP by `extensible_dataset`; the bonus type stays.)
fn expect_type(dn: &Dnode, bonustype: u8, what: &str) -> Result<()> {
    if dn.bonustype == bonustype {
        return Ok(());
    }
    Err(dn.error(
        format!("{what} {}", dn.object),
        format!(
            "object's bonus has DMU type {}, not {bonustype}",
            dn.bonustype
        ),
    ))
}

/// A DSL directory's bonus (`dsl_dir_phys_t`), the fields we use.
#[derive(Clone, Debug, Default)]
pub struct DslDir {
    /// Creation time (seconds).
    pub creation_time: u64,
    /// Head dataset object.
    pub head_dataset: u64,
    /// Parent directory object.
    pub parent: u64,
    /// Origin snapshot (clones).
    pub origin: u64,
    /// Child-directory ZAP object.
    pub child_dir_zap: u64,
    /// Bytes used by this directory and its children.
    pub used_bytes: u64,
    /// Compressed bytes.
    pub compressed_bytes: u64,
    /// Uncompressed bytes.
    pub uncompressed_bytes: u64,
    /// Quota.
    pub quota: u64,
    /// Reservation.
    pub reserved: u64,
    /// Property ZAP object.
    pub props_zap: u64,
}

impl DslDir {
    /// Decodes the bonus of directory object `dn`.
    pub fn from_dnode(dn: &Dnode) -> Result<DslDir> {
        let b = &dn.bonus;
        let bo = dn.byteorder;
        expect_type(dn, otype::DSL_DIR, "DSL directory")?;
        if b.len() < 88 {
            return Err(dn.error(
                format!("DSL directory {}", dn.object),
                format!("bonus of {} bytes, need 88", b.len()),
            ));
        }
        let w = |o: usize| bo.u64(b, o).unwrap_or(0);
        Ok(DslDir {
            creation_time: w(0),
            head_dataset: w(8),
            parent: w(16),
            origin: w(24),
            child_dir_zap: w(32),
            used_bytes: w(40),
            compressed_bytes: w(48),
            uncompressed_bytes: w(56),
            quota: w(64),
            reserved: w(72),
            props_zap: w(80),
        })
    }
}

/// A DSL dataset's bonus (`dsl_dataset_phys_t`), the fields we use.
#[derive(Clone, Debug)]
pub struct DslDataset {
    /// Its directory.
    pub dir: u64,
    /// Previous snapshot.
    pub prev_snap: u64,
    /// Next snapshot (for snapshots).
    pub next_snap: u64,
    /// Snapshot-name ZAP (heads).
    pub snapnames_zap: u64,
    /// Creation time (seconds).
    pub creation_time: u64,
    /// Creation txg.
    pub creation_txg: u64,
    /// Referenced bytes.
    pub referenced_bytes: u64,
    /// Compressed bytes.
    pub compressed_bytes: u64,
    /// Uncompressed bytes.
    pub uncompressed_bytes: u64,
    /// Unique bytes.
    pub unique_bytes: u64,
    /// Guid.
    pub guid: u64,
    /// `DS_FLAG_*`.
    pub flags: u64,
    /// The object set's block pointer.
    pub bp: BlkPtr,
    /// Snapshot property ZAP.
    pub props_obj: u64,
}

impl DslDataset {
    /// Decodes the bonus of dataset object `dn`.
    pub fn from_dnode(dn: &Dnode) -> Result<DslDataset> {
        let b = &dn.bonus;
        let bo = dn.byteorder;
        expect_type(dn, otype::DSL_DATASET, "DSL dataset")?;
        if b.len() < 256 {
            return Err(dn.error(
                format!("DSL dataset {}", dn.object),
                format!("bonus of {} bytes, need 256", b.len()),
            ));
        }
        let w = |o: usize| bo.u64(b, o).unwrap_or(0);
        Ok(DslDataset {
            dir: w(0),
            prev_snap: w(8),
            next_snap: w(24),
            snapnames_zap: w(32),
            creation_time: w(48),
            creation_txg: w(56),
            referenced_bytes: w(72),
            compressed_bytes: w(80),
            uncompressed_bytes: w(88),
            unique_bytes: w(96),
            guid: w(112),
            flags: w(120),
            bp: BlkPtr::decode(&b[128..128 + BLKPTR_SIZE], bo)?,
            props_obj: if b.len() >= 272 { w(264) } else { 0 },
        })
    }
}

/// One dataset or snapshot, as `datasets` lists it.
#[derive(Clone, Debug)]
pub struct DatasetInfo {
    /// Full name (`pool/fs`, `pool/fs@snap`).
    pub name: String,
    /// Dataset object number in the MOS (zdb's "ID").
    pub id: u64,
    /// Whether it is a snapshot.
    pub snapshot: bool,
    /// Its DSL directory object.
    pub dir_obj: u64,
    /// The decoded dataset.
    pub ds: DslDataset,
    /// Object-set type, None when the object set could not be read.
    pub os_type: Option<ObjsetType>,
    /// Whether the object set is encrypted (its block pointer is
    /// authenticated); we read nothing inside it.
    pub encrypted: bool,
    /// A problem met while reading it (the rest is still listed).
    pub problem: Option<String>,
    /// Properties set locally (name → value as text).
    pub props: BTreeMap<String, String>,
}

impl DatasetInfo {
    /// Object count as zdb prints it (fill of the object set's block pointer).
    pub fn objects(&self) -> u64 {
        self.ds.bp.fill
    }
}

/// The MOS itself, summarised as zdb's first line.
#[derive(Clone, Debug)]
pub struct MosInfo {
    /// Bytes used by the MOS (its `$MOS` directory), when present.
    pub used_bytes: Option<u64>,
    /// Objects (fill of the root block pointer).
    pub objects: u64,
}

/// The pool's meta object set and its DSL tree.
pub struct Mos {
    /// The MOS object set.
    pub os: ObjSet,
    /// Root DSL directory object.
    pub root_dir: u64,
}

impl Mos {
    /// Opens the MOS from the uberblock's root block pointer.
    pub fn open(pool: &Pool, rootbp: &BlkPtr) -> Result<Mos> {
        let os = ObjSet::open(pool, rootbp)?;
        let dir = os.dnode(pool, DIRECTORY_OBJECT)?;
        let root_dir = zap::lookup_u64(pool, &dir, "root_dataset")?.ok_or_else(|| {
            dir.error(
                "MOS object directory (object 1)",
                "has no root_dataset entry",
            )
        })?;
        Ok(Mos { os, root_dir })
    }

    /// The object directory's entries (config, features_for_read, …).
    pub fn directory(&self, pool: &Pool) -> Result<Vec<zap::Entry>> {
        let dir = self.os.dnode(pool, DIRECTORY_OBJECT)?;
        zap::entries(pool, &dir)
    }

    /// Features the pool needs for reading (`features_for_read`, name → refcount).
    pub fn features_for_read(&self, pool: &Pool) -> Result<Vec<(String, u64)>> {
        let Some(obj) = self
            .directory(pool)?
            .into_iter()
            .find(|e| e.name == b"features_for_read")
            .and_then(|e| e.as_u64())
        else {
            return Ok(Vec::new());
        };
        let dn = self.os.dnode(pool, obj)?;
        Ok(zap::entries(pool, &dn)?
            .into_iter()
            .map(|e| (e.name_str(), e.as_u64().unwrap_or(0)))
            .collect())
    }

    /// The MOS summary line.
    pub fn info(&self, pool: &Pool) -> MosInfo {
        let used = self
            .child_dir(pool, self.root_dir, "$MOS")
            .ok()
            .flatten()
            .and_then(|d| {
                self.os
                    .dnode(pool, d)
                    .ok()
                    .and_then(|dn| DslDir::from_dnode(&dn).ok())
                    .map(|dd| dd.used_bytes)
            });
        MosInfo {
            used_bytes: used,
            objects: self.os.bp.fill,
        }
    }

    fn child_dir(&self, pool: &Pool, dir: u64, name: &str) -> Result<Option<u64>> {
        let dn = self.os.dnode(pool, dir)?;
        let dd = DslDir::from_dnode(&dn)?;
        if dd.child_dir_zap == 0 {
            return Ok(None);
        }
        let z = self.os.dnode(pool, dd.child_dir_zap)?;
        zap::lookup_u64(pool, &z, name)
    }

    /// Every dataset and snapshot under the root directory (names starting
    /// with `$` are internal and skipped), depth first.
    pub fn datasets(&self, pool: &Pool) -> Vec<std::result::Result<DatasetInfo, Error>> {
        let mut out = Vec::new();
        let mut seen = HashMap::new();
        self.walk_dir(
            pool,
            self.root_dir,
            pool.name.clone(),
            0,
            &mut seen,
            &mut out,
        );
        out
    }

    fn walk_dir(
        &self,
        pool: &Pool,
        dir: u64,
        name: String,
        depth: usize,
        seen: &mut HashMap<u64, String>,
        out: &mut Vec<std::result::Result<DatasetInfo, Error>>,
    ) {
        let problem = match seen.get(&dir) {
            Some(first) => Some(format!("already listed as {first}: the dataset tree loops")),
            None if depth > MAX_DEPTH => {
                Some(format!("nested more than {MAX_DEPTH} directories deep"))
            }
            None => None,
        };
        if let Some(p) = problem {
            let at = self
                .os
                .dnode(pool, dir)
                .map_or(self.os.meta.phys, |d| d.phys);
            out.push(Err(Error::corrupt(
                format!("DSL directory {dir} ({name})"),
                at,
                p,
            )));
            return;
        }
        seen.insert(dir, name.clone());
        let dd = match self
            .os
            .dnode(pool, dir)
            .and_then(|dn| DslDir::from_dnode(&dn))
        {
            Ok(d) => d,
            Err(e) => {
                out.push(Err(e));
                return;
            }
        };
        let props = self.props(pool, dd.props_zap);
        if dd.head_dataset != 0 {
            match self.dataset(pool, dd.head_dataset, &name, false, dir, props.clone()) {
                Ok(head) => {
                    let snapzap = head.ds.snapnames_zap;
                    out.push(Ok(head));
                    if snapzap != 0 {
                        match self
                            .os
                            .dnode(pool, snapzap)
                            .and_then(|z| zap::entries(pool, &z))
                        {
                            Ok(mut snaps) => {
                                snaps.sort_by_key(|e| e.as_u64());
                                for s in snaps {
                                    let sname = format!("{name}@{}", s.name_str());
                                    let id = s.as_u64().unwrap_or(0);
                                    if id == dd.head_dataset {
                                        let at = self
                                            .os
                                            .dnode(pool, snapzap)
                                            .map_or(self.os.meta.phys, |d| d.phys);
                                        out.push(Err(Error::corrupt(
                                            format!("snapshot-name ZAP {snapzap} ({sname})"),
                                            at,
                                            format!("names the head dataset {id} itself"),
                                        )));
                                        continue;
                                    }
                                    out.push(self.dataset(
                                        pool,
                                        id,
                                        &sname,
                                        true,
                                        dir,
                                        BTreeMap::new(),
                                    ));
                                }
                            }
                            Err(e) => out.push(Err(e)),
                        }
                    }
                }
                Err(e) => out.push(Err(e)),
            }
        }
        if dd.child_dir_zap != 0 {
            match self
                .os
                .dnode(pool, dd.child_dir_zap)
                .and_then(|z| zap::entries(pool, &z))
            {
                Ok(mut kids) => {
                    kids.sort_by(|a, b| a.name.cmp(&b.name));
                    for k in kids {
                        if k.name.first() == Some(&b'$') {
                            continue;
                        }
                        let child = format!("{name}/{}", k.name_str());
                        self.walk_dir(pool, k.as_u64().unwrap_or(0), child, depth + 1, seen, out);
                    }
                }
                Err(e) => out.push(Err(e)),
            }
        }
    }

    fn props(&self, pool: &Pool, zapobj: u64) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if zapobj == 0 {
            return m;
        }
        let Ok(entries) = self
            .os
            .dnode(pool, zapobj)
            .and_then(|z| zap::entries(pool, &z))
        else {
            return m;
        };
        for e in entries {
            let v = if e.int_len == 1 {
                let mut b = e.as_bytes();
                if b.last() == Some(&0) {
                    b.pop();
                }
                String::from_utf8_lossy(&b).into_owned()
            } else {
                e.values
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            m.insert(e.name_str(), v);
        }
        m
    }

    /// Reads dataset object `id`.
    pub fn dataset(
        &self,
        pool: &Pool,
        id: u64,
        name: &str,
        snapshot: bool,
        dir_obj: u64,
        props: BTreeMap<String, String>,
    ) -> Result<DatasetInfo> {
        let dn = self.os.dnode(pool, id)?;
        // name the dataset, keep the structure's own offset
        let ds = DslDataset::from_dnode(&dn)
            .map_err(|e| e.renamed(|s| format!("dataset {name}: {s}")))?;
        let encrypted = ds.bp.crypt;
        let mut info = DatasetInfo {
            name: name.to_string(),
            id,
            snapshot,
            dir_obj,
            ds,
            os_type: None,
            encrypted,
            problem: None,
            props,
        };
        if info.ds.bp.is_hole() {
            info.problem = Some("object set block pointer is a hole".into());
            return Ok(info);
        }
        // The object set header is authenticated, not encrypted: its type
        // is readable even for encrypted datasets.
        match ObjSet::open(pool, &info.ds.bp) {
            Ok(os) => info.os_type = Some(os.os_type),
            Err(e) => info.problem = Some(e.to_string()),
        }
        Ok(info)
    }

    /// Finds a dataset by full name (`pool/fs` or `pool/fs@snap`).
    pub fn find(&self, pool: &Pool, name: &str) -> Result<DatasetInfo> {
        for d in self.datasets(pool).into_iter().flatten() {
            if d.name == name {
                return Ok(d);
            }
        }
        Err(Error::Usage(format!(
            "no dataset named {name} in pool {}",
            pool.name
        )))
    }
}
