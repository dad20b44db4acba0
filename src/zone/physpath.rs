//! The leaf paths a kernel zone's disks carry in their vdev labels —
//! `path`, `devid` and `phys_path` of every leaf of every label — gathered
//! for `kzrescue physpath` (one disk, or every disk of a mirror side by
//! side) and rendered as its text and JSON.

use crate::error::Result;
use crate::target::{DiskSlice, TargetOptions, open_vdev};
use crate::zfs::label::{self, LabelRead, LabelStatus};
use crate::zfs::nvlist::NvList;
use crate::zfs::vdev_tree::{self, VdevNode};
use serde::Serialize;
use std::fmt::Write as _;

/// A string value as the physpath reports print it: `'value'`, or `-`
/// when absent.
pub fn quoted(s: Option<&str>) -> String {
    s.map_or("-".into(), |s| format!("'{s}'"))
}

/// The vdev tree of the first valid label, and this disk's guid in it.
pub fn first_valid_tree(labels: &[LabelRead]) -> Option<(&NvList, Option<u64>)> {
    labels
        .iter()
        .filter(|l| l.status == LabelStatus::Valid)
        .find_map(|l| Some((l.config.as_ref()?.get_list("vdev_tree")?, l.u64("guid"))))
}

/// One disk: the vdev opened (read-only) and its four labels.
pub struct ShownDisk {
    /// The target as the user named it.
    pub spec: String,
    /// The vdev.
    pub vdev: DiskSlice,
    /// Its four labels.
    pub labels: Vec<LabelRead>,
}

impl ShownDisk {
    /// The minor-node letter of the pool's slice (none for a bare vdev).
    pub fn letter(&self) -> Option<char> {
        self.vdev.partition.as_ref().map(|p| p.letter)
    }
}

/// The disks of `kzrescue physpath`.
pub struct PhysPaths {
    /// In the order given.
    pub disks: Vec<ShownDisk>,
}

/// Opens every target read-only (as `opts` says, `write` ignored) and
/// reads its labels.
pub fn read(specs: &[String], opts: &TargetOptions) -> Result<PhysPaths> {
    let opts = TargetOptions {
        write: false,
        ..opts.clone()
    };
    let disks = specs
        .iter()
        .map(|s| {
            let vdev = open_vdev(s, &opts)?;
            let labels = label::read_labels(vdev.source.as_ref());
            Ok(ShownDisk {
                spec: s.clone(),
                vdev,
                labels,
            })
        })
        .collect::<Result<_>>()?;
    Ok(PhysPaths { disks })
}

/// One leaf of a label's vdev tree (JSON keys in alphabetical order, as
/// `kzrescue.physpath/1` prints them).
#[derive(Serialize)]
pub struct LeafDoc<'a> {
    /// `devid`.
    pub devid: Option<&'a str>,
    /// `guid`.
    pub guid: Option<u64>,
    /// `path`.
    pub path: Option<&'a str>,
    /// `phys_path`.
    pub phys_path: Option<&'a str>,
    /// Whether the leaf is the disk whose label this is.
    pub this_disk: bool,
    /// `type`.
    #[serde(rename = "type")]
    pub vdev_type: Option<&'a str>,
}

/// One label.
#[derive(Serialize)]
pub struct LabelDoc<'a> {
    /// This disk's leaf guid.
    pub guid: Option<u64>,
    /// Label number 0–3.
    pub label: usize,
    /// Every leaf of its vdev tree.
    pub leaves: Vec<LeafDoc<'a>>,
    /// The pool name.
    pub pool: Option<&'a str>,
    /// Why it is not valid.
    pub problem: Option<&'a str>,
    /// `valid`, `checksum_bad`, …
    pub status: &'static str,
    /// The label's txg.
    pub txg: Option<u64>,
}

/// One disk.
#[derive(Serialize)]
pub struct DiskDoc<'a> {
    /// Its four labels.
    pub labels: Vec<LabelDoc<'a>>,
    /// The minor letter of its slice.
    pub slice_letter: Option<String>,
    /// The vdev as opened.
    pub target: String,
}

/// The `kzrescue physpath --json` document.
#[derive(Serialize)]
pub struct PhysPathDoc<'a> {
    /// Per disk.
    pub disks: Vec<DiskDoc<'a>>,
    /// The exit code.
    pub exit: u8,
}

fn label_doc(l: &LabelRead) -> LabelDoc<'_> {
    let this = l.u64("guid");
    let leaves = l
        .config
        .as_ref()
        .and_then(|c| c.get_list("vdev_tree"))
        .map(|t| {
            vdev_tree::leaves(t)
                .iter()
                .map(|n| LeafDoc {
                    devid: n.devid(),
                    guid: n.guid(),
                    path: n.path(),
                    phys_path: n.phys_path(),
                    this_disk: this.is_some() && n.guid() == this,
                    vdev_type: n.vdev_type(),
                })
                .collect()
        })
        .unwrap_or_default();
    LabelDoc {
        guid: this,
        label: l.index,
        leaves,
        pool: l.config.as_ref().and_then(|c| c.get_str("name")),
        problem: l.problem.as_deref(),
        status: l.status.name(),
        txg: l.u64("txg"),
    }
}

impl PhysPaths {
    /// Whether every label of every disk is valid (else `physpath` exits 1).
    pub fn all_valid(&self) -> bool {
        self.disks
            .iter()
            .all(|d| d.labels.iter().all(|l| l.status == LabelStatus::Valid))
    }

    /// `physpath`'s exit code: 0 when every label is valid, else 1.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.all_valid())
    }

    /// The JSON document, with `exit` as given.
    pub fn doc(&self, exit: u8) -> PhysPathDoc<'_> {
        PhysPathDoc {
            disks: self
                .disks
                .iter()
                .map(|d| DiskDoc {
                    labels: d.labels.iter().map(label_doc).collect(),
                    slice_letter: d.letter().map(|c| c.to_string()),
                    target: d.vdev.describe(),
                })
                .collect(),
            exit,
        }
    }

    /// The text report: every label of every disk, the mirror side by side,
    /// and the `physpath set` line that gives the disks the phys_path a
    /// kernel zone sees.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (i, d) in self.disks.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            disk_text(&mut s, d);
        }
        if self.disks.len() > 1 {
            side_by_side(&mut s, &self.disks);
        }
        s.push_str(&self.hint());
        s
    }

    /// The `physpath set` line, when every disk has a slice letter.
    fn hint(&self) -> String {
        let n = self.disks.len();
        let letters: Vec<char> = self.disks.iter().filter_map(ShownDisk::letter).collect();
        if letters.len() != n {
            return String::new();
        }
        let slots: Vec<String> = letters.iter().map(|c| format!("<device id>:{c}")).collect();
        let (ids, slots, what) = if n == 1 {
            (
                "N".to_string(),
                format!("/zvnex/zvblk@{}", slots[0]),
                "this slice",
            )
        } else {
            let ids: Vec<String> = (1..=n).map(|i| format!("N{i}")).collect();
            (
                ids.join(" "),
                format!("/zvnex/zvblk@{}", slots.join(", /zvnex/zvblk@")),
                "these slices",
            )
        };
        let specs: Vec<&str> = self.disks.iter().map(|d| d.spec.as_str()).collect();
        format!(
            "a kernel zone sees {what} as {slots} (set it with: kzrescue physpath set {} \
             --device-id {ids} --write)\n",
            specs.join(" ")
        )
    }
}

fn disk_text(s: &mut String, d: &ShownDisk) {
    let _ = writeln!(s, "{}", d.vdev.describe());
    for l in &d.labels {
        let pool = l.config.as_ref().and_then(|c| c.get_str("name"));
        let about = match (pool, l.u64("txg")) {
            (Some(n), Some(t)) => format!(" (pool '{n}', txg {t})"),
            (Some(n), None) => format!(" (pool '{n}')"),
            _ => String::new(),
        };
        let _ = writeln!(s, "label {}: {}{about}", l.index, l.status.name());
        let this = l.u64("guid");
        let Some(tree) = l.config.as_ref().and_then(|c| c.get_list("vdev_tree")) else {
            continue;
        };
        for n in vdev_tree::leaves(tree) {
            let mark = if this.is_some() && n.guid() == this {
                "  <- this disk"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "  leaf {} ({}){mark}",
                n.guid().map_or("-".into(), |g| g.to_string()),
                n.vdev_type().unwrap_or("?")
            );
            let _ = writeln!(s, "    path:      {}", quoted(n.path()));
            let _ = writeln!(s, "    devid:     {}", quoted(n.devid()));
            let _ = writeln!(s, "    phys_path: {}", quoted(n.phys_path()));
        }
    }
}

/// The leaves of a mirror as each disk's first valid label records them,
/// one column per disk: where the disks disagree about a sibling, one of
/// them holds a stale child entry.
fn side_by_side(s: &mut String, disks: &[ShownDisk]) {
    s.push_str("\nside by side (the first valid label of each disk):\n");
    let trees: Vec<_> = disks.iter().map(|d| first_valid_tree(&d.labels)).collect();
    let mut guids: Vec<u64> = Vec::new();
    for (t, _) in trees.iter().flatten() {
        for n in vdev_tree::leaves(t) {
            if let Some(g) = n.guid().filter(|g| !guids.contains(g)) {
                guids.push(g);
            }
        }
    }
    type Field = for<'a> fn(&VdevNode<'a>) -> Option<&'a str>;
    let fields: [(&str, Field); 3] = [
        ("path", |n| n.path()),
        ("devid", |n| n.devid()),
        ("phys_path", |n| n.phys_path()),
    ];
    for g in guids {
        let owner = trees
            .iter()
            .position(|t| t.is_some_and(|(_, this)| this == Some(g)));
        let _ = writeln!(
            s,
            "  leaf {g}{}",
            owner.map_or(String::new(), |i| format!(" (disk {})", disks[i].spec))
        );
        for (name, f) in fields {
            let values: Vec<String> = trees
                .iter()
                .map(|t| {
                    t.and_then(|(t, _)| vdev_tree::find_guid(t, g))
                        .map_or("(absent)".to_string(), |n| quoted(f(&n)))
                })
                .collect();
            let differ = values.iter().any(|v| *v != values[0]);
            let cols: Vec<String> = disks
                .iter()
                .zip(&values)
                .map(|(d, v)| format!("{}: {v}", d.spec))
                .collect();
            let _ = writeln!(
                s,
                "    {name:<10} {}{}",
                cols.join("   "),
                if differ { "   <- differ" } else { "" }
            );
        }
    }
}
