//! Text output in the shape of OpenZFS 2.1's `zdb -l` / `zdb -lu`.
//!
//! The layout follows zdb's `dump_label`: for each label a `LABEL n` banner,
//! the config dumped the way libnvpair's `dump_nvlist` does it (4-space
//! indent, +4 per level), then `labels = …` naming every label whose packed
//! nvlist is byte-identical; later members of a group are not repeated.
//! Uberblocks are grouped the same way by their (byte-order-normalised)
//! 208-byte struct. kzrescue adds lines zdb never prints, all of the form
//! `<indent><word> = …` with word `checksums`, `error`, `disagree` or
//! `active`, so a reader (or a test) can tell them apart.

use kzrescue::source::Source;
use kzrescue::zfs::label::{LabelComparison, LabelRead, LabelStatus};
use kzrescue::zfs::nvlist::{NvList, NvValue};
use kzrescue::zfs::uberblock::{self, MMP_MAGIC, SlotRead, SlotStatus, Uberblock};
use std::fmt::Write;

/// Where a cache device keeps its persistent L2ARC header (after the front labels).
const L2ARC_HEADER_OFFSET: u64 = 4 << 20;
/// `L2ARC_DEV_HDR_MAGIC`, ASCII "ZFSCACHE".
const L2ARC_DEV_HDR_MAGIC: u64 = 0x5a46_5343_4143_4845;

const BANNER: &str = "------------------------------------\n";

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
        match &p.value {
            NvValue::Boolean => {
                let _ = writeln!(out, "{pad}{n}");
            }
            NvValue::BooleanValue(b) => {
                let _ = writeln!(out, "{pad}{n}: {b}");
            }
            NvValue::Byte(v) | NvValue::UInt8(v) => {
                let _ = writeln!(out, "{pad}{n}: {v}");
            }
            NvValue::Int8(v) => {
                let _ = writeln!(out, "{pad}{n}: {v}");
            }
            NvValue::Int16(v) => {
                let _ = writeln!(out, "{pad}{n}: {v}");
            }
            NvValue::UInt16(v) => {
                let _ = writeln!(out, "{pad}{n}: {v}");
            }
            NvValue::Int32(v) => {
                let _ = writeln!(out, "{pad}{n}: {v}");
            }
            NvValue::UInt32(v) => {
                let _ = writeln!(out, "{pad}{n}: {v}");
            }
            NvValue::Int64(v) => {
                let _ = writeln!(out, "{pad}{n}: {v}");
            }
            NvValue::UInt64(v) => {
                let _ = writeln!(out, "{pad}{n}: {v}");
            }
            NvValue::String(s) => {
                let _ = writeln!(out, "{pad}{n}: '{s}'");
            }
            NvValue::ByteArray(v) | NvValue::UInt8Array(v) => arr!(v, |x: &u8| x.to_string()),
            NvValue::Int8Array(v) => arr!(v, |x: &i8| x.to_string()),
            NvValue::Int16Array(v) => arr!(v, |x: &i16| x.to_string()),
            NvValue::UInt16Array(v) => arr!(v, |x: &u16| x.to_string()),
            NvValue::Int32Array(v) => arr!(v, |x: &i32| x.to_string()),
            NvValue::UInt32Array(v) => arr!(v, |x: &u32| x.to_string()),
            NvValue::Int64Array(v) => arr!(v, |x: &i64| x.to_string()),
            NvValue::UInt64Array(v) => arr!(v, |x: &u64| x.to_string()),
            NvValue::StringArray(v) => arr!(v, |x: &String| format!("'{x}'")),
            NvValue::NvList(l) => {
                let _ = writeln!(out, "{pad}{n}:");
                dump_nvlist(out, l, indent + 4);
            }
            NvValue::NvListArray(v) => {
                for (i, l) in v.iter().enumerate() {
                    let _ = writeln!(out, "{pad}{n}[{i}]:");
                    dump_nvlist(out, l, indent + 4);
                }
            }
            // HRTIME, DOUBLE and BOOLEAN_ARRAY: dump_nvlist has no case.
            other => {
                let _ = writeln!(out, "bad config type {} for {n}", other.type_code());
            }
        }
    }
}

/// `asctime()` of a UNIX time, in UTC: `Wed Jun  7 13:14:58 2006`.
pub fn asctime_utc(t: u64) -> String {
    kzrescue::time::asctime(i64::try_from(t).unwrap_or(i64::MAX))
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
    let _ = writeln!(
        out,
        "\ttimestamp = {} UTC = {}",
        ub.timestamp,
        asctime_utc(ub.timestamp)
    );
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

/// zdb's view of the uberblock rings: which ashift it used for each label's
/// scan, and the slots it found (magic only, no checksum check).
pub struct ZdbRings {
    /// Per label: the slots as read with the ashift zdb had at that point.
    pub read: Vec<Vec<SlotRead>>,
    /// The ashift zdb ends with (used to walk every ring when printing).
    pub final_shift: u32,
}

/// Reads the rings the way zdb 2.1 does: the ashift comes from the most
/// recent label (in order 0–3) whose nvlist unpacked (9 without one).
pub fn zdb_rings(src: &dyn Source, labels: &[LabelRead]) -> ZdbRings {
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
        read.push(uberblock::read_ring_with_shift(
            src,
            l.index,
            l.offset,
            uberblock::slot_shift(ashift),
        ));
    }
    ZdbRings {
        read,
        final_shift: uberblock::slot_shift(ashift),
    }
}

/// The `zdb -l` (and with `rings`, `zdb -lu`) text for `labels`, plus
/// kzrescue's checksum lines; `active` marks the active uberblock.
pub fn render(
    src: &dyn Source,
    labels: &[LabelRead],
    cmp: &LabelComparison,
    rings: Option<&ZdbRings>,
    active: Option<&Uberblock>,
) -> String {
    let mut out = String::new();
    // Uberblock groups: identical normalised structs across labels.
    let mut ub_groups: Vec<(Vec<u64>, Vec<usize>)> = Vec::new();
    let mut ub_group_of: Vec<Vec<Option<usize>>> = Vec::new();
    if let Some(r) = rings {
        for (l, slots) in r.read.iter().enumerate() {
            let mut row = vec![None; slots.len()];
            for (i, s) in slots.iter().enumerate() {
                let Some(ub) = &s.uberblock else { continue };
                let key = ub.words();
                let g = match ub_groups.iter().position(|(k, _)| *k == key) {
                    Some(g) => {
                        if !ub_groups[g].1.contains(&l) {
                            ub_groups[g].1.push(l);
                        }
                        g
                    }
                    None => {
                        ub_groups.push((key, vec![l]));
                        ub_groups.len() - 1
                    }
                };
                row[i] = Some(g);
            }
            ub_group_of.push(row);
        }
    }
    for l in labels {
        let mut header_printed = false;
        let header = |out: &mut String, printed: &mut bool| {
            if !*printed {
                out.push_str(BANNER);
                let _ = writeln!(out, "LABEL {}", l.index);
                out.push_str(BANNER);
                *printed = true;
            }
        };
        if let LabelStatus::Unreadable(_) = l.status {
            let _ = writeln!(out, "failed to read label {}", l.index);
            checks_line(&mut out, "    ", labels, &[l.index]);
            continue;
        }
        match (&l.config, cmp.group_of(l.index)) {
            (Some(c), Some(g)) => {
                if g.first() == Some(&l.index) {
                    header(&mut out, &mut header_printed);
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
        let Some(r) = rings else { continue };
        let count = uberblock::RING_SIZE >> r.final_shift;
        let final_slots = uberblock::read_ring_with_shift(src, l.index, l.offset, r.final_shift);
        for i in 0..count {
            let Some(Some(g)) = ub_group_of.get(l.index).and_then(|row| row.get(i)) else {
                continue;
            };
            let members = &ub_groups[*g].1;
            if members.first() != Some(&l.index) {
                continue;
            }
            let ub = final_slots
                .get(i)
                .and_then(|s| s.uberblock.as_ref())
                .or_else(|| r.read[l.index][i].uberblock.as_ref());
            let Some(ub) = ub else { continue };
            if ub.mmp_magic == MMP_MAGIC
                && ub.mmp_delay != 0
                && i >= count - uberblock::MMP_BLOCKS_PER_LABEL
            {
                continue;
            }
            header(&mut out, &mut header_printed);
            let _ = writeln!(out, "    Uberblock[{i}]");
            dump_uberblock(&mut out, ub);
            label_numbers(&mut out, "        labels = ", members);
            let words: Vec<String> = members
                .iter()
                .map(|&m| {
                    let st = r.read.get(m).and_then(|s| {
                        s.iter().find(|s| {
                            s.slot == i
                                && s.uberblock.as_ref().map(|u| u.words()) == Some(ub.words())
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
    // zdb dumps the persistent L2ARC header of a cache device (state 4).
    if labels.iter().any(|l| l.u64("state") == Some(4)) {
        let mut m = [0u8; 8];
        let found = src.read_at(L2ARC_HEADER_OFFSET, &mut m).is_ok()
            && (u64::from_le_bytes(m) == L2ARC_DEV_HDR_MAGIC
                || u64::from_be_bytes(m) == L2ARC_DEV_HDR_MAGIC);
        if found {
            let _ = writeln!(
                out,
                "    error = L2ARC device header at byte offset {L2ARC_HEADER_OFFSET:#x}: not decoded by kzrescue"
            );
        } else {
            out.push_str("L2ARC device header not found\n\n");
        }
    }
    for d in &cmp.disagreements {
        let vals: Vec<String> = d.values.iter().map(|(i, v)| format!("{i}:{v}")).collect();
        let _ = writeln!(out, "    disagree = {} {}", d.field, vals.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asctime_matches_c() {
        assert_eq!(asctime_utc(1149686098), "Wed Jun  7 13:14:58 2006");
        assert_eq!(asctime_utc(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime_utc(951782400), "Tue Feb 29 00:00:00 2000");
    }
}
