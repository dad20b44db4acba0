//! Opening a pool offline from the devices we were given: read every
//! label, check they belong to one pool, rebuild the top-level vdevs from
//! the label configs, choose the active uberblock over all devices (or an
//! older one by txg), and open the MOS.
//!
//! Nothing is written. Features the pool needs for reading that kzrescue
//! does not implement, and Oracle-only pool versions, are reported as
//! notes; reads then go ahead and every block is still checksummed.

use crate::error::{Error, Result};
use crate::source::SharedSource;
use crate::zfs::blkptr::BlkPtr;
use crate::zfs::dsl::Mos;
use crate::zfs::label::{self, LabelStatus};
use crate::zfs::nvlist::NvList;
use crate::zfs::pool::{Pool, TopVdev};
use crate::zfs::uberblock::{self, Uberblock};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Read features kzrescue handles (active features outside this list are
/// named in the notes).
pub const READ_FEATURES: &[&str] = &[
    "com.delphix:hole_birth",
    "com.delphix:embedded_data",
    "com.delphix:extensible_dataset",
    "com.delphix:bookmarks",
    "com.delphix:bookmark_v2",
    "com.delphix:empty_bpobj",
    "com.delphix:async_destroy",
    "com.delphix:enabled_txg",
    "com.delphix:spacemap_histogram",
    "com.delphix:spacemap_v2",
    "com.delphix:log_spacemap",
    "com.delphix:obsolete_counts",
    "com.delphix:zpool_checkpoint",
    "com.delphix:head_errlog",
    "com.delphix:livelist",
    "com.delphix:redaction_bookmarks",
    "com.delphix:redacted_datasets",
    "com.delphix:filesystem_limits",
    "com.joyent:multi_vdev_crash_dump",
    "org.illumos:lz4_compress",
    "org.illumos:sha512",
    "org.illumos:skein",
    "org.illumos:edonr",
    "org.open-zfs:large_blocks",
    "org.zfsonlinux:large_dnode",
    "org.zfsonlinux:userobj_accounting",
    "org.zfsonlinux:project_quota",
    "org.zfsonlinux:allocation_classes",
    "org.freebsd:zstd_compress",
    "org.openzfs:blake3",
    "com.fudosecurity:block_cloning",
    "com.klarasystems:vdev_zaps_v2",
    "com.datto:resilver_defer",
    "com.datto:encryption",
];

/// A pool opened for reading.
pub struct OpenPool {
    /// The block reader.
    pub pool: Arc<Pool>,
    /// The uberblock in use.
    pub uberblock: Uberblock,
    /// Its root block pointer.
    pub rootbp: BlkPtr,
    /// The MOS and DSL root.
    pub mos: Mos,
    /// Things the user should know (missing devices, unknown features,
    /// Oracle versions, an older txg in use).
    pub notes: Vec<String>,
}

struct Device {
    src: SharedSource,
    config: NvList,
    /// Byte offset of the packed config (the chosen label's `vdev_phys`).
    config_at: u64,
    txg: u64,
}

/// Opens the pool on `sources` (each a whole vdev: the ZFS partition, not
/// the disk). With `txg`, uses the newest uberblock whose txg is ≤ it.
pub fn open(sources: &[SharedSource], txg: Option<u64>) -> Result<OpenPool> {
    let mut notes = Vec::new();
    let (devices, slots) = read_devices(sources, &mut notes);
    let first = one_pool(&devices, &notes)?;
    let pool_guid = first.config.get_u64("pool_guid").unwrap_or(0);
    // newest label config of each top-level vdev
    let newest = devices.iter().max_by_key(|d| d.txg).unwrap_or(first);
    let name = newest.config.get_str("name").unwrap_or("?").to_string();
    let version = newest.config.get_u64("version").unwrap_or(0);
    let tops = top_vdevs(&devices)?;
    note_config(&newest.config, &tops, version, &mut notes);
    let ub = choose_uberblock(&slots, txg)?;
    if let Some(t) = txg.filter(|t| *t != ub.txg) {
        notes.push(format!("no uberblock with txg {t}; using txg {}", ub.txg));
    }
    let rootbp = BlkPtr::decode(&ub.rootbp, ub.endian)?;
    let pool = Arc::new(Pool::new(name, pool_guid, version, tops));
    let mos = Mos::open(&pool, &rootbp)?;
    Ok(OpenPool {
        pool,
        uberblock: ub,
        rootbp,
        mos,
        notes,
    })
}

/// Reads every source's labels: the devices that belong to a pool, and the
/// uberblock slots of all their labels. Sources skipped are noted.
fn read_devices(
    sources: &[SharedSource],
    notes: &mut Vec<String>,
) -> (Vec<Device>, Vec<uberblock::SlotRead>) {
    let mut devices = Vec::new();
    let mut slots = Vec::new();
    for src in sources {
        let labels = label::read_labels(src.as_ref());
        let best = labels
            .iter()
            .filter(|l| l.config.is_some())
            .max_by_key(|l| (l.status == LabelStatus::Valid, l.u64("txg").unwrap_or(0)));
        let Some(l) = best else {
            notes.push(format!(
                "{}: no label holds a readable config; skipped",
                src.name()
            ));
            continue;
        };
        let config = l.config.clone().unwrap_or_default();
        if config.get_u64("pool_guid").is_none() {
            // an aux label: an unused hot spare or cache device
            notes.push(format!(
                "{} is a spare or cache device (its label names no pool); skipped",
                src.name()
            ));
            continue;
        }
        for l in labels.iter().filter(|l| l.config.is_some()) {
            slots.extend(uberblock::read_ring(
                src.as_ref(),
                l,
                config
                    .get_list("vdev_tree")
                    .and_then(|t| t.get_u64("ashift")),
            ));
        }
        devices.push(Device {
            src: src.clone(),
            config_at: l.phys_offset(),
            txg: config.get_u64("txg").unwrap_or(0),
            config,
        });
    }
    (devices, slots)
}

/// The first device, once every device is known to be of its pool.
fn one_pool<'a>(devices: &'a [Device], notes: &[String]) -> Result<&'a Device> {
    let first = devices.first().ok_or_else(|| {
        // where label 0's config should be, on the (first) device
        Error::corrupt(
            "vdev label 0 nvlist",
            crate::zfs::label::VDEV_PHYS_OFFSET,
            format!(
                "no device given holds a readable ZFS label, here or in labels 1–3 ({})",
                notes.join("; ")
            ),
        )
    })?;
    let pool_guid = first.config.get_u64("pool_guid").unwrap_or(0);
    for d in devices {
        let g = d.config.get_u64("pool_guid").unwrap_or(0);
        if g != pool_guid {
            return Err(Error::Usage(format!(
                "{} belongs to pool {} ({g}), not {} ({pool_guid})",
                d.src.name(),
                d.config.get_str("name").unwrap_or("?"),
                first.config.get_str("name").unwrap_or("?")
            )));
        }
    }
    // newest label config of each top-level vdev
    Ok(first)
}

/// The top-level vdevs, each from the newest label config that holds it.
fn top_vdevs(devices: &[Device]) -> Result<Vec<TopVdev>> {
    let mut leaves: HashMap<u64, SharedSource> = HashMap::new();
    for d in devices {
        if let Some(g) = d.config.get_u64("guid") {
            leaves.insert(g, d.src.clone());
        }
    }
    let mut trees: BTreeMap<u64, (u64, NvList, u64)> = BTreeMap::new();
    for d in devices {
        if let Some(t) = d.config.get_list("vdev_tree") {
            let id = t.get_u64("id").unwrap_or(0);
            if trees.get(&id).is_none_or(|(txg, _, _)| d.txg > *txg) {
                trees.insert(id, (d.txg, t.clone(), d.config_at));
            }
        }
    }
    let lookup = |g: u64| leaves.get(&g).cloned();
    let mut tops = Vec::new();
    for (_, t, at) in trees.values() {
        tops.push(TopVdev::from_nvlist(t, &lookup, *at)?);
    }
    Ok(tops)
}

/// Notes about the newest label config: top-level vdevs or leaves not
/// given, an Oracle pool version, read features kzrescue lacks.
fn note_config(config: &NvList, tops: &[TopVdev], version: u64, notes: &mut Vec<String>) {
    let children = config.get_u64("vdev_children").unwrap_or(tops.len() as u64);
    if (tops.len() as u64) < children {
        let have: Vec<u64> = tops.iter().map(|t| t.id).collect();
        notes.push(format!(
            "pool has {children} top-level vdevs but the devices given hold only {have:?}: blocks on the others cannot be read"
        ));
    }
    for t in tops {
        let mut missing = Vec::new();
        missing_leaves(&t.vdev, &mut missing);
        if !missing.is_empty() {
            notes.push(format!(
                "top-level vdev {}: leaves not given: {} (reads use the others and parity)",
                t.id,
                missing.join(", ")
            ));
        }
    }
    if version > 28 && version != 5000 {
        notes.push(format!(
            "pool version {version} is an Oracle Solaris format (kzrescue verified versions 1–28 and 5000): \
             structures shared with version 28 are read and every block is checksummed, but Oracle-only \
             features (e.g. its encryption, newer compression or dedup formats) are not understood"
        ));
    }
    if let Some(f) = config.get_list("features_for_read") {
        let unknown: Vec<&str> = f
            .pairs
            .iter()
            .map(|p| p.name.as_str())
            .filter(|n| !READ_FEATURES.contains(n))
            .collect();
        if !unknown.is_empty() {
            notes.push(format!(
                "pool uses features kzrescue cannot read: {} (reads relying on them will fail their checksums)",
                unknown.join(", ")
            ));
        }
    }
}

/// The newest valid uberblock over all slots (at most `txg` when given).
fn choose_uberblock(slots: &[uberblock::SlotRead], txg: Option<u64>) -> Result<Uberblock> {
    let valid = slots.iter().filter(|s| {
        s.uberblock
            .as_ref()
            .is_some_and(|u| txg.is_none_or(|t| u.txg <= t))
    });
    uberblock::best(valid).cloned().ok_or_else(|| {
        // label 0's ring, the first of the rings read
        Error::corrupt(
            "uberblock ring of label 0",
            crate::zfs::uberblock::RING_OFFSET,
            match txg {
                Some(t) => format!("no valid uberblock with txg ≤ {t}"),
                None => "no valid uberblock on any device".into(),
            },
        )
    })
}

fn missing_leaves(v: &crate::zfs::pool::Vdev, out: &mut Vec<String>) {
    use crate::zfs::pool::Vdev;
    match v {
        Vdev::Leaf {
            source: None,
            path,
            guid,
        } => out.push(if path.is_empty() {
            guid.to_string()
        } else {
            path.clone()
        }),
        Vdev::Leaf { .. } | Vdev::Other { .. } => {}
        Vdev::Mirror { children, .. } | Vdev::Raidz { children, .. } => {
            for c in children {
                missing_leaves(c, out);
            }
        }
    }
}
