//! Text in the shape of OpenZFS 2.1's `zdb -l` / `zdb -lu`, as a pure
//! function of what was read from the vdev.
//!
//! [`ZdbView::read`] gathers everything the text needs (the four labels,
//! how they group, the uberblock rings as zdb reads them, the L2ARC header
//! probe); [`render`] turns that into text without touching the disk.
//!
//! The layout follows zdb's `dump_label`: for each label a `LABEL n` banner,
//! the config dumped the way libnvpair's `dump_nvlist` does it (4-space
//! indent, +4 per level), then `labels = …` naming every label whose packed
//! nvlist is byte-identical; later members of a group are not repeated.
//! Uberblocks are grouped the same way by their (byte-order-normalised)
//! 208-byte struct. kzrescue adds lines zdb never prints, all of the form
//! `<indent><word> = …` with word `checksums`, `error`, `disagree` or
//! `active`, so a reader (or a test) can tell them apart.

use crate::source::Source;
use crate::zfs::dsl::DatasetInfo;
use crate::zfs::label::{self, LabelComparison, LabelRead, LabelStatus};
use crate::zfs::nvlist::{NvList, NvValue};
use crate::zfs::uberblock::{self, MMP_MAGIC, SlotRead, SlotStatus, Uberblock};
use std::fmt::Write;

/// Where a cache device keeps its persistent L2ARC header (after the front labels).
pub const L2ARC_HEADER_OFFSET: u64 = 4 << 20;
/// `L2ARC_DEV_HDR_MAGIC`, ASCII "ZFSCACHE".
const L2ARC_DEV_HDR_MAGIC: u64 = 0x5a46_5343_4143_4845;

/// zdb's compact size format (`zfs_nicenum`): 1024-based, at most 5 characters.
pub fn nicenum(num: u64) -> String {
    const UNITS: [char; 7] = [' ', 'K', 'M', 'G', 'T', 'P', 'E'];
    let mut n = num;
    let mut index = 0;
    while n >= 1024 && index < 6 {
        n /= 1024;
        index += 1;
    }
    if index == 0 {
        return format!("{n}");
    }
    let unit = UNITS[index];
    if num.is_multiple_of(1u64 << (10 * index)) {
        return format!("{n}{unit}");
    }
    let v = num as f64 / (1u64 << (10 * index)) as f64;
    let mut out = String::new();
    for prec in (0..=2).rev() {
        out = format!("{v:.prec$}{unit}");
        if out.len() <= 5 {
            break;
        }
    }
    out
}

/// A dataset's type as `zdb -d` names it (`UNREADABLE` when its object
/// set does not read).
pub fn dataset_type(d: &DatasetInfo) -> String {
    d.os_type
        .map(|t| t.name())
        .unwrap_or_else(|| "UNREADABLE".into())
}

/// `zdb -d`'s line for one dataset.
pub fn dataset_line(d: &DatasetInfo) -> String {
    format!(
        "Dataset {} [{}], ID {}, cr_txg {}, {}, {} objects",
        d.name,
        dataset_type(d),
        d.id,
        d.ds.creation_txg,
        nicenum(d.ds.referenced_bytes),
        d.objects()
    )
}

const BANNER: &str = "------------------------------------\n";

/// zdb's view of the uberblock rings: the slots it found with the ashift
/// it had at each label (magic only, no checksum check), and the same
/// rings again with the ashift it ends with, which it prints from.
#[derive(Debug, Clone)]
pub struct ZdbRings {
    /// Per label: the slots as read with the ashift zdb had at that point.
    pub read: Vec<Vec<SlotRead>>,
    /// Per label: the slots as read with [`ZdbRings::final_shift`] (empty
    /// for an unreadable label).
    pub printed: Vec<Vec<SlotRead>>,
    /// The slot shift zdb ends with (used to walk every ring when printing).
    pub final_shift: u32,
}

/// What the persistent L2ARC header probe of a cache device found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2arcHeader {
    /// `L2ARC_DEV_HDR_MAGIC` at [`L2ARC_HEADER_OFFSET`] (not decoded).
    Found,
    /// No header there.
    NotFound,
}

/// Everything the `zdb -l` / `zdb -lu` text of one vdev needs.
#[derive(Debug, Clone)]
pub struct ZdbView {
    /// The four labels.
    pub labels: Vec<LabelRead>,
    /// How they group and where the valid ones disagree.
    pub comparison: LabelComparison,
    /// The rings as zdb reads them (`zdb -lu`), when asked for.
    pub rings: Option<ZdbRings>,
    /// The L2ARC header probe, when a label says cache device (state 4).
    pub l2arc: Option<L2arcHeader>,
}

impl ZdbView {
    /// Reads the labels of the vdev `src` and, with `rings`, its uberblock
    /// rings the way zdb 2.1 does.
    pub fn read(src: &dyn Source, rings: bool) -> ZdbView {
        let labels = label::read_labels(src);
        let comparison = label::compare(&labels);
        let rings = rings.then(|| zdb_rings(src, &labels));
        let l2arc = labels
            .iter()
            .any(|l| l.u64("state") == Some(4))
            .then(|| probe_l2arc(src));
        ZdbView {
            labels,
            comparison,
            rings,
            l2arc,
        }
    }
}

fn probe_l2arc(src: &dyn Source) -> L2arcHeader {
    let mut m = [0u8; 8];
    let found = src.read_at(L2ARC_HEADER_OFFSET, &mut m).is_ok()
        && (u64::from_le_bytes(m) == L2ARC_DEV_HDR_MAGIC
            || u64::from_be_bytes(m) == L2ARC_DEV_HDR_MAGIC);
    if found {
        L2arcHeader::Found
    } else {
        L2arcHeader::NotFound
    }
}

/// Reads the rings the way zdb 2.1 does: the ashift comes from the most
/// recent label (in order 0–3) whose nvlist unpacked (9 without one).
fn zdb_rings(src: &dyn Source, labels: &[LabelRead]) -> ZdbRings {
    let mut ashift = 9u64;
    let mut read = Vec::new();
    for l in labels {
        if let Some(c) = &l.config {
            ashift = c
                .get_list("vdev_tree")
                .and_then(|t| t.get_u64("ashift"))
                .unwrap_or(9);
        }
        if matches!(l.status, LabelStatus::Unreadable(_)) {
            read.push(Vec::new());
            continue;
        }
        let shift = uberblock::slot_shift(ashift);
        read.push(uberblock::read_ring_with_shift(
            src, l.index, l.offset, shift,
        ));
    }
    let final_shift = uberblock::slot_shift(ashift);
    let printed = labels
        .iter()
        .map(|l| match l.status {
            LabelStatus::Unreadable(_) => Vec::new(),
            _ => uberblock::read_ring_with_shift(src, l.index, l.offset, final_shift),
        })
        .collect();
    ZdbRings {
        read,
        printed,
        final_shift,
    }
}

/// Appends `list` as libnvpair's `dump_nvlist(list, indent)` prints it.
pub fn dump_nvlist(out: &mut String, list: &NvList, indent: usize) {
    let pad = " ".repeat(indent);
    for p in &list.pairs {
        let n = &p.name;
        macro_rules! arr {
            ($v:expr, $fmt:expr) => {
                for (i, x) in $v.iter().enumerate() {
                    let _ = writeln!(out, "{pad}{n}[{i}]: {}", $fmt(x));
                }
            };
        }
        let scalar = match &p.value {
            NvValue::Boolean => {
                let _ = writeln!(out, "{pad}{n}");
                continue;
            }
            NvValue::BooleanValue(b) => b.to_string(),
            NvValue::Byte(v) | NvValue::UInt8(v) => v.to_string(),
            NvValue::Int8(v) => v.to_string(),
            NvValue::Int16(v) => v.to_string(),
            NvValue::UInt16(v) => v.to_string(),
            NvValue::Int32(v) => v.to_string(),
            NvValue::UInt32(v) => v.to_string(),
            NvValue::Int64(v) => v.to_string(),
            NvValue::UInt64(v) => v.to_string(),
            NvValue::String(s) => format!("'{s}'"),
            NvValue::ByteArray(v) | NvValue::UInt8Array(v) => {
                arr!(v, |x: &u8| x.to_string());
                continue;
            }
            NvValue::Int8Array(v) => {
                arr!(v, |x: &i8| x.to_string());
                continue;
            }
            NvValue::Int16Array(v) => {
                arr!(v, |x: &i16| x.to_string());
                continue;
            }
            NvValue::UInt16Array(v) => {
                arr!(v, |x: &u16| x.to_string());
                continue;
            }
            NvValue::Int32Array(v) => {
                arr!(v, |x: &i32| x.to_string());
                continue;
            }
            NvValue::UInt32Array(v) => {
                arr!(v, |x: &u32| x.to_string());
                continue;
            }
            NvValue::Int64Array(v) => {
                arr!(v, |x: &i64| x.to_string());
                continue;
            }
            NvValue::UInt64Array(v) => {
                arr!(v, |x: &u64| x.to_string());
                continue;
            }
            NvValue::StringArray(v) => {
                arr!(v, |x: &String| format!("'{x}'"));
                continue;
            }
            NvValue::NvList(l) => {
                let _ = writeln!(out, "{pad}{n}:");
                dump_nvlist(out, l, indent + 4);
                continue;
            }
            NvValue::NvListArray(v) => {
                for (i, l) in v.iter().enumerate() {
                    let _ = writeln!(out, "{pad}{n}[{i}]:");
                    dump_nvlist(out, l, indent + 4);
                }
                continue;
            }
            // HRTIME, DOUBLE and BOOLEAN_ARRAY: dump_nvlist has no case.
            other => {
                let _ = writeln!(out, "bad config type {} for {n}", other.type_code());
                continue;
            }
        };
        let _ = writeln!(out, "{pad}{n}: {scalar}");
    }
}

/// `asctime()` of a UNIX time, in UTC: `Wed Jun  7 13:14:58 2006`.
pub fn asctime_utc(t: u64) -> String {
    crate::time::asctime(i64::try_from(t).unwrap_or(i64::MAX))
}

/// One label's checksum verdict in a word or two.
pub fn label_check_word(l: &LabelRead) -> String {
    match &l.status {
        LabelStatus::Valid => format!("{}:valid({})", l.index, l.endian.map_or("?", |e| e.name())),
        LabelStatus::ChecksumBad => format!("{}:BAD", l.index),
        LabelStatus::Blank => format!("{}:blank", l.index),
        LabelStatus::Undecodable(_) => format!("{}:valid-but-undecodable", l.index),
        LabelStatus::Unreadable(_) => format!("{}:unreadable", l.index),
    }
}

fn label_numbers(out: &mut String, prefix: &str, ls: &[usize]) {
    out.push_str(prefix);
    for l in ls {
        let _ = write!(out, "{l} ");
    }
    out.push('\n');
}

fn checks_line(out: &mut String, indent: &str, labels: &[LabelRead], members: &[usize]) {
    let words: Vec<String> = members
        .iter()
        .filter_map(|&i| labels.get(i))
        .map(label_check_word)
        .collect();
    let _ = writeln!(out, "{indent}checksums = {}", words.join(" "));
    for &i in members {
        if let Some(p) = labels.get(i).and_then(|l| l.problem.as_ref()) {
            let _ = writeln!(out, "{indent}error = {p}");
        }
    }
}

/// Appends one uberblock as zdb's `dump_uberblock` prints it (verbosity 1).
pub fn dump_uberblock(out: &mut String, ub: &Uberblock) {
    let _ = writeln!(out, "\tmagic = {:016x}", ub.magic);
    let _ = writeln!(out, "\tversion = {}", ub.version);
    let _ = writeln!(out, "\ttxg = {}", ub.txg);
    let _ = writeln!(out, "\tguid_sum = {}", ub.guid_sum);
    let t = ub.timestamp;
    let _ = writeln!(out, "\ttimestamp = {t} UTC = {}", asctime_utc(t));
    let _ = writeln!(out, "\tmmp_magic = {:016x}", ub.mmp_magic);
    if ub.mmp_valid() {
        let _ = writeln!(out, "\tmmp_delay = {}", ub.mmp_delay);
        if let Some(s) = ub.mmp_seq() {
            let _ = writeln!(out, "\tmmp_seq = {s}");
        }
        if let Some(f) = ub.mmp_fail_intervals() {
            let _ = writeln!(out, "\tmmp_fail = {f}");
        }
        if let Some(w) = ub.mmp_write_interval() {
            let _ = writeln!(out, "\tmmp_write = {w}");
        }
        let _ = writeln!(out, "\tmmp_valid = {:x}", ub.mmp_config & 0xff);
    }
    let _ = writeln!(out, "\tcheckpoint_txg = {}", ub.checkpoint_txg);
}

/// Uberblocks grouped as zdb groups them: identical normalised structs
/// across labels.
struct UberblockGroups {
    /// Per group: the struct's words and the labels holding it, in order.
    groups: Vec<(Vec<u64>, Vec<usize>)>,
    /// Per label, per slot: the group of the slot's uberblock.
    group_of: Vec<Vec<Option<usize>>>,
}

impl UberblockGroups {
    fn new(r: &ZdbRings) -> Self {
        let mut groups: Vec<(Vec<u64>, Vec<usize>)> = Vec::new();
        let mut group_of = Vec::new();
        for (l, slots) in r.read.iter().enumerate() {
            let mut row = vec![None; slots.len()];
            for (i, s) in slots.iter().enumerate() {
                let Some(ub) = &s.uberblock else { continue };
                let key = ub.words();
                let g = match groups.iter().position(|(k, _)| *k == key) {
                    Some(g) => g,
                    None => {
                        groups.push((key, Vec::new()));
                        groups.len() - 1
                    }
                };
                if !groups[g].1.contains(&l) {
                    groups[g].1.push(l);
                }
                row[i] = Some(g);
            }
            group_of.push(row);
        }
        UberblockGroups { groups, group_of }
    }
}

/// The `zdb -l` (and with rings, `zdb -lu`) text of `view`, plus
/// kzrescue's checksum lines; `active` marks the active uberblock.
pub fn render(view: &ZdbView, active: Option<&Uberblock>) -> String {
    let mut out = String::new();
    let labels = &view.labels;
    let groups = view.rings.as_ref().map(UberblockGroups::new);
    for l in labels {
        let mut header_printed = false;
        if let LabelStatus::Unreadable(_) = l.status {
            let _ = writeln!(out, "failed to read label {}", l.index);
            checks_line(&mut out, "    ", labels, &[l.index]);
            continue;
        }
        match (&l.config, view.comparison.group_of(l.index)) {
            (Some(c), Some(g)) => {
                if g.first() == Some(&l.index) {
                    header(&mut out, l.index, &mut header_printed);
                    dump_nvlist(&mut out, c, 4);
                    label_numbers(&mut out, "    labels = ", g);
                    checks_line(&mut out, "    ", labels, g);
                }
            }
            _ => {
                let _ = writeln!(out, "failed to unpack label {}", l.index);
                checks_line(&mut out, "    ", labels, &[l.index]);
            }
        }
        if let (Some(r), Some(g)) = (&view.rings, &groups) {
            let mut ring = RingText {
                out: &mut out,
                label: l.index,
                header_printed: &mut header_printed,
            };
            ring.render(r, g, active);
        }
    }
    // zdb dumps the persistent L2ARC header of a cache device (state 4).
    match view.l2arc {
        Some(L2arcHeader::Found) => {
            let _ = writeln!(
                out,
                "    error = L2ARC device header at byte offset {L2ARC_HEADER_OFFSET:#x}: not decoded by kzrescue"
            );
        }
        Some(L2arcHeader::NotFound) => out.push_str("L2ARC device header not found\n\n"),
        None => {}
    }
    for d in &view.comparison.disagreements {
        let vals: Vec<String> = d.values.iter().map(|(i, v)| format!("{i}:{v}")).collect();
        let _ = writeln!(out, "    disagree = {} {}", d.field, vals.join(" "));
    }
    out
}

/// The `LABEL n` banner, once per label.
fn header(out: &mut String, index: usize, printed: &mut bool) {
    if !*printed {
        out.push_str(BANNER);
        let _ = writeln!(out, "LABEL {index}");
        out.push_str(BANNER);
        *printed = true;
    }
}

/// The uberblocks of one label's ring, as `zdb -lu` prints them.
struct RingText<'a> {
    out: &'a mut String,
    label: usize,
    header_printed: &'a mut bool,
}

impl RingText<'_> {
    fn render(&mut self, r: &ZdbRings, g: &UberblockGroups, active: Option<&Uberblock>) {
        let l = self.label;
        let count = uberblock::RING_SIZE >> r.final_shift;
        let empty = Vec::new();
        let final_slots = r.printed.get(l).unwrap_or(&empty);
        for i in 0..count {
            let Some(Some(gi)) = g.group_of.get(l).and_then(|row| row.get(i)) else {
                continue;
            };
            let members = &g.groups[*gi].1;
            if members.first() != Some(&l) {
                continue;
            }
            let ub = final_slots
                .get(i)
                .and_then(|s| s.uberblock.as_ref())
                .or_else(|| r.read[l][i].uberblock.as_ref());
            let Some(ub) = ub else { continue };
            if ub.mmp_magic == MMP_MAGIC
                && ub.mmp_delay != 0
                && i >= count - uberblock::MMP_BLOCKS_PER_LABEL
            {
                continue;
            }
            self.uberblock(r, i, ub, members, active);
        }
    }

    fn uberblock(
        &mut self,
        r: &ZdbRings,
        i: usize,
        ub: &Uberblock,
        members: &[usize],
        active: Option<&Uberblock>,
    ) {
        header(self.out, self.label, self.header_printed);
        let out = &mut *self.out;
        let _ = writeln!(out, "    Uberblock[{i}]");
        dump_uberblock(out, ub);
        label_numbers(out, "        labels = ", members);
        let words: Vec<String> = members
            .iter()
            .map(|&m| {
                let st = r.read.get(m).and_then(|s| {
                    s.iter().find(|s| {
                        s.slot == i && s.uberblock.as_ref().map(|u| u.words()) == Some(ub.words())
                    })
                });
                match st.map(|s| &s.status) {
                    Some(SlotStatus::Valid) => format!("{m}:valid({})", ub.endian.name()),
                    Some(_) => format!("{m}:BAD"),
                    None => format!("{m}:?"),
                }
            })
            .collect();
        let _ = writeln!(out, "        checksums = {}", words.join(" "));
        if let Some(a) = active
            && a.slot == i
            && a.words() == ub.words()
            && members.contains(&a.label)
        {
            let _ = writeln!(
                out,
                "        active = yes (txg {}, label {} slot {}, checksum verified)",
                a.txg, a.label, a.slot
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicenum_like_zdb() {
        assert_eq!(nicenum(0), "0");
        assert_eq!(nicenum(1023), "1023");
        assert_eq!(nicenum(21504), "21K");
        assert_eq!(nicenum(50688), "49.5K");
        assert_eq!(nicenum(2430976), "2.32M");
        assert_eq!(nicenum(1044480), "1020K");
    }

    #[test]
    fn asctime_matches_c() {
        assert_eq!(asctime_utc(1149686098), "Wed Jun  7 13:14:58 2006");
        assert_eq!(asctime_utc(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime_utc(951782400), "Tue Feb 29 00:00:00 2000");
    }
}
