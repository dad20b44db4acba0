//! The kernel-zone guest's view of its boot disk: the `zvblk` physical path.
//!
//! Inside a Solaris kernel zone, the disk with zonecfg device `id` N is a
//! `zvblk` child of the `zvnex` nexus, and ZFS records its slice as
//! `/zvnex/zvblk@<unit>:<minor>` in the label's `phys_path`. The minor letter
//! is the slice's Solaris block minor name (s0 → `a`, s1 → `b`, …), so it must
//! come from the slice that holds the pool on *this* disk. Whether the unit
//! address of ids ≥ 10 is hexadecimal (the illumos unit-address custom) or
//! decimal is not publicly documented; kzrescue writes hex unless told
//! otherwise. Ids 0–9 read the same either way.

/// How the unit address spells the device id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnitRadix {
    /// Lower-case hex without prefix (`@a` for id 10): the illumos custom.
    #[default]
    Hex,
    /// Decimal (`@10` for id 10).
    Decimal,
}

/// The longest phys_path Solaris accepts: `MAXPATHLEN` (1024) minus the NUL.
pub const MAX_PHYS_PATH: usize = 1023;

/// The unit address of device `id`.
pub fn unit_address(id: u64, radix: UnitRadix) -> String {
    match radix {
        UnitRadix::Hex => format!("{id:x}"),
        UnitRadix::Decimal => format!("{id}"),
    }
}

/// The Solaris block minor name of slice `slice` (cmlb: s0–s7 → `a`–`h`,
/// s8–s15 → `i`–`p`). `None` above 15.
pub fn slice_letter(slice: u32) -> Option<char> {
    (slice < 16).then(|| char::from(b'a' + slice as u8))
}

/// The phys_path the guest's ZFS records for slice `letter` of device `id`.
pub fn phys_path(id: u64, letter: char, radix: UnitRadix) -> String {
    format!("/zvnex/zvblk@{}:{letter}", unit_address(id, radix))
}

/// The guest's block-device path of slice `slice` of device `id`
/// (`/dev/dsk/c1d<id>s<slice>`: kernel-zone disks appear on controller 1).
pub fn guest_path(id: u64, slice: u32) -> String {
    format!("/dev/dsk/c1d{id}s{slice}")
}

/// Splits a zvblk phys_path into its unit address and minor letter; `None`
/// when `p` is not of that form.
pub fn parse_phys_path(p: &str) -> Option<(&str, char)> {
    let rest = p.strip_prefix("/zvnex/zvblk@")?;
    let (unit, minor) = rest.split_once(':')?;
    let mut chars = minor.chars();
    let letter = chars.next()?;
    if unit.is_empty()
        || !unit.bytes().all(|b| b.is_ascii_hexdigit())
        || chars.next().is_some()
        || !letter.is_ascii_lowercase()
    {
        return None;
    }
    Some((unit, letter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_and_sparc_root_slices() {
        // x86 kernel zones keep rpool in s1, SPARC in s0 (solaris-kz-facts §3).
        assert_eq!(
            phys_path(0, slice_letter(1).unwrap(), UnitRadix::Hex),
            "/zvnex/zvblk@0:b"
        );
        assert_eq!(
            phys_path(0, slice_letter(0).unwrap(), UnitRadix::Hex),
            "/zvnex/zvblk@0:a"
        );
        assert_eq!(slice_letter(8), Some('i'));
        assert_eq!(slice_letter(15), Some('p'));
        assert_eq!(slice_letter(16), None);
    }

    #[test]
    fn unit_radix() {
        assert_eq!(
            phys_path(9, 'b', UnitRadix::Hex),
            phys_path(9, 'b', UnitRadix::Decimal)
        );
        assert_eq!(phys_path(10, 'b', UnitRadix::Hex), "/zvnex/zvblk@a:b");
        assert_eq!(phys_path(10, 'b', UnitRadix::Decimal), "/zvnex/zvblk@10:b");
        assert_eq!(phys_path(255, 'a', UnitRadix::Hex), "/zvnex/zvblk@ff:a");
    }

    #[test]
    fn parse() {
        assert_eq!(parse_phys_path("/zvnex/zvblk@1f:b"), Some(("1f", 'b')));
        assert_eq!(parse_phys_path("/scsi_vhci/disk@g600144f0:b"), None);
        assert_eq!(parse_phys_path("/zvnex/zvblk@:b"), None);
        assert_eq!(parse_phys_path("/zvnex/zvblk@0:b,raw"), None);
        assert_eq!(guest_path(0, 1), "/dev/dsk/c1d0s1");
    }
}
