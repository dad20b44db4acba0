//! Solaris naming of partitions: VTOC tags, EFI type GUIDs, slice numbers and
//! minor-node letters.
//!
//! Solaris gives every partition a *tag* (a small number from `sys/vtoc.h`).
//! On a VTOC label the tag is stored on disk; on a GPT label Solaris derives it
//! from the partition's type GUID (and an unknown GUID reads back as
//! [`TAG_UNKNOWN`]). The names are the ones `format(8)` prints.

/// Tag of an unused slice.
pub const TAG_UNASSIGNED: u16 = 0x00;
/// Tag of a boot slice.
pub const TAG_BOOT: u16 = 0x01;
/// Tag of a root file-system slice.
pub const TAG_ROOT: u16 = 0x02;
/// Tag of a swap slice.
pub const TAG_SWAP: u16 = 0x03;
/// Tag of a `/usr` slice; also the tag of ZFS pool slices on GPT disks.
pub const TAG_USR: u16 = 0x04;
/// Tag of the "whole disk" backup slice of a VTOC label (by convention s2).
pub const TAG_BACKUP: u16 = 0x05;
/// Tag of the obsolete stand slice.
pub const TAG_STAND: u16 = 0x06;
/// Tag of a `/var` slice.
pub const TAG_VAR: u16 = 0x07;
/// Tag of a `/export/home` slice.
pub const TAG_HOME: u16 = 0x08;
/// Tag of the alternate-sector slice.
pub const TAG_ALTSCTR: u16 = 0x09;
/// Tag of the obsolete cachefs slice.
pub const TAG_CACHE: u16 = 0x0a;
/// Tag of the 8 MiB reserved slice (s8) of a Solaris GPT disk.
pub const TAG_RESERVED: u16 = 0x0b;
/// Tag of an EFI System partition.
pub const TAG_SYSTEM: u16 = 0x0c;
/// Tag of a BIOS boot partition (GRUB's core image on GPT disks).
pub const TAG_BIOS_BOOT: u16 = 0x18;
/// Tag Solaris reports for a GPT type GUID it does not know.
pub const TAG_UNKNOWN: u16 = 0xff;

/// Type GUID of the Solaris `usr` partition, which ZFS uses for pool slices
/// (Apple and OpenZFS call it "ZFS").
pub const GUID_USR_ZFS: &str = "6A898CC3-1DD2-11B2-99A6-080020736631";
/// Type GUID of the Solaris reserved partition (slice 8, 8 MiB).
pub const GUID_RESERVED: &str = "6A945A3B-1DD2-11B2-99A6-080020736631";
/// Type GUID of an EFI System partition.
pub const GUID_EFI_SYSTEM: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// Type GUID of a BIOS boot partition.
pub const GUID_BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";

/// GPT type GUIDs Solaris knows (from `sys/efi_partition.h`), with the tag it
/// maps each to and the name `format` prints.
const SOLARIS_GUIDS: &[(&str, u16, &str)] = &[
    (
        "00000000-0000-0000-0000-000000000000",
        TAG_UNASSIGNED,
        "unassigned",
    ),
    ("6A82CB45-1DD2-11B2-99A6-080020736631", TAG_BOOT, "boot"),
    ("6A85CF4D-1DD2-11B2-99A6-080020736631", TAG_ROOT, "root"),
    ("6A87C46F-1DD2-11B2-99A6-080020736631", TAG_SWAP, "swap"),
    (GUID_USR_ZFS, TAG_USR, "usr"),
    ("6A8B642B-1DD2-11B2-99A6-080020736631", TAG_BACKUP, "backup"),
    ("6A8D2AC7-1DD2-11B2-99A6-080020736631", TAG_STAND, "stand"),
    ("6A8EF2E9-1DD2-11B2-99A6-080020736631", TAG_VAR, "var"),
    ("6A90BA39-1DD2-11B2-99A6-080020736631", TAG_HOME, "home"),
    (
        "6A9283A5-1DD2-11B2-99A6-080020736631",
        TAG_ALTSCTR,
        "alternates",
    ),
    (GUID_RESERVED, TAG_RESERVED, "reserved"),
    (GUID_EFI_SYSTEM, TAG_SYSTEM, "EFI System"),
    (GUID_BIOS_BOOT, TAG_BIOS_BOOT, "BIOS_boot"),
];

/// Other type GUIDs seen next to Solaris disks; Solaris itself reports them
/// as tag 0xff ("unknown"), we name them to help the reader.
const OTHER_GUIDS: &[(&str, &str)] = &[
    ("6A96237F-1DD2-11B2-99A6-080020736631", "Solaris resv1"),
    ("516E7CBA-6ECF-11D6-8FF8-00022D09712B", "FreeBSD ZFS"),
    ("0FC63DAF-8483-4772-8E79-3D69D8477DE4", "Linux filesystem"),
    ("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "Linux swap"),
    ("E6D6D379-F507-44C2-A23C-238F2A3DF928", "Linux LVM"),
    (
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
        "Microsoft basic data",
    ),
    ("E3C9E316-0B5C-4DB8-817D-F92DF00215AE", "Microsoft reserved"),
];

/// The Solaris tag and display name of a GPT type GUID (upper-case,
/// hyphenated). Unknown GUIDs give ([`TAG_UNKNOWN`], "unknown").
pub fn guid_type(guid: &str) -> (u16, &'static str) {
    for &(g, tag, name) in SOLARIS_GUIDS {
        if g.eq_ignore_ascii_case(guid) {
            return (tag, name);
        }
    }
    for &(g, name) in OTHER_GUIDS {
        if g.eq_ignore_ascii_case(guid) {
            return (TAG_UNKNOWN, name);
        }
    }
    (TAG_UNKNOWN, "unknown")
}

/// The `format` name of a VTOC tag.
pub fn tag_name(tag: u16) -> &'static str {
    match tag {
        TAG_UNASSIGNED => "unassigned",
        TAG_BOOT => "boot",
        TAG_ROOT => "root",
        TAG_SWAP => "swap",
        TAG_USR => "usr",
        TAG_BACKUP => "backup",
        TAG_STAND => "stand",
        TAG_VAR => "var",
        TAG_HOME => "home",
        TAG_ALTSCTR => "alternates",
        TAG_CACHE => "cache",
        TAG_RESERVED => "reserved",
        TAG_SYSTEM => "system",
        TAG_BIOS_BOOT => "BIOS_boot",
        _ => "unknown",
    }
}

/// The minor-node letter of slice `slice`: s0 → `a` … s15 → `p`, as in the
/// `cmlb` minor tables. Slices without a slice minor (16 and up) give `-`.
///
/// On a GPT disk minor 7 is the whole-disk node `wd`, so Solaris never uses
/// slice 7 there; its letter is still reported as `h`.
pub fn slice_letter(slice: u32) -> char {
    if slice < 16 {
        char::from(b'a' + slice as u8)
    } else {
        '-'
    }
}

/// The slice number of a minor letter (`a` → 0 … `p` → 15).
pub fn letter_slice(letter: char) -> Option<u32> {
    match letter {
        'a'..='p' => Some(letter as u32 - 'a' as u32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_follow_cmlb() {
        assert_eq!(slice_letter(0), 'a');
        assert_eq!(slice_letter(1), 'b');
        assert_eq!(slice_letter(8), 'i');
        assert_eq!(slice_letter(15), 'p');
        assert_eq!(slice_letter(16), '-');
        for s in 0..16 {
            assert_eq!(letter_slice(slice_letter(s)), Some(s));
        }
    }

    #[test]
    fn solaris_guids_map_to_tags() {
        assert_eq!(guid_type(GUID_USR_ZFS), (TAG_USR, "usr"));
        assert_eq!(
            guid_type(&GUID_RESERVED.to_lowercase()),
            (TAG_RESERVED, "reserved")
        );
        assert_eq!(guid_type(GUID_BIOS_BOOT), (TAG_BIOS_BOOT, "BIOS_boot"));
        assert_eq!(
            guid_type("01234567-89AB-CDEF-0123-456789ABCDEF").0,
            TAG_UNKNOWN
        );
        assert_eq!(tag_name(TAG_ALTSCTR), "alternates");
    }
}
