//! One GPT writer for the tests: a protective MBR, the primary header and
//! entry array after it, the backup array and header at the end, as Solaris
//! lays them out (9 entries of 128 bytes, the array padded to 16 KiB).
//! Written from the UEFI specification, independently of the crate.

/// A type or unique GUID in its on-disk (mixed-endian) byte order.
pub fn guid_bytes(g: &str) -> [u8; 16] {
    let h: Vec<u8> = hex::decode(g.replace('-', "")).unwrap();
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&[h[3], h[2], h[1], h[0]]);
    b[4..6].copy_from_slice(&[h[5], h[4]]);
    b[6..8].copy_from_slice(&[h[7], h[6]]);
    b[8..].copy_from_slice(&h[8..]);
    b
}

/// One partition entry.
pub struct Entry<'a> {
    /// Entry index (the Solaris slice number).
    pub slot: usize,
    /// Partition type GUID (text form).
    pub type_guid: &'a str,
    /// Unique partition GUID (on-disk bytes).
    pub unique: [u8; 16],
    /// First and last LBA.
    pub first: u64,
    pub last: u64,
    /// Partition name (UTF-16LE on disk).
    pub name: &'a str,
}

/// The GPT of a disk of `sectors` sectors of `ss` bytes: the byte ranges to
/// write, as (offset, bytes).
pub fn regions(sectors: u64, ss: u64, disk_guid: [u8; 16], parts: &[Entry]) -> Vec<(u64, Vec<u8>)> {
    let entries_bytes = 16384u64;
    let last_lba = sectors - 1;
    let mut ents = vec![0u8; entries_bytes as usize];
    for p in parts {
        let e = &mut ents[p.slot * 128..p.slot * 128 + 128];
        e[..16].copy_from_slice(&guid_bytes(p.type_guid));
        e[16..32].copy_from_slice(&p.unique);
        e[32..40].copy_from_slice(&p.first.to_le_bytes());
        e[40..48].copy_from_slice(&p.last.to_le_bytes());
        for (j, c) in p.name.encode_utf16().enumerate() {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&c.to_le_bytes());
        }
    }
    let ents_crc = crc32fast::hash(&ents[..9 * 128]);
    let first_usable = (2 * ss + entries_bytes) / ss;
    let last_usable = last_lba - entries_bytes / ss - 1;
    let header = |cur: u64, backup: u64, ents_lba: u64| {
        let mut h = vec![0u8; 92];
        h[..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&cur.to_le_bytes());
        h[32..40].copy_from_slice(&backup.to_le_bytes());
        h[40..48].copy_from_slice(&first_usable.to_le_bytes());
        h[48..56].copy_from_slice(&last_usable.to_le_bytes());
        h[56..72].copy_from_slice(&disk_guid);
        h[72..80].copy_from_slice(&ents_lba.to_le_bytes());
        h[80..84].copy_from_slice(&9u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&ents_crc.to_le_bytes());
        let c = crc32fast::hash(&h);
        h[16..20].copy_from_slice(&c.to_le_bytes());
        h
    };
    // protective MBR: one 0xEE partition from LBA 1 over the whole disk
    let mut mbr = vec![0u8; 512];
    let pm = &mut mbr[446..462];
    pm[1..4].copy_from_slice(&[0, 2, 0]);
    pm[4] = 0xEE;
    pm[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    pm[8..12].copy_from_slice(&1u32.to_le_bytes());
    pm[12..16].copy_from_slice(&(last_lba.min(0xFFFF_FFFF) as u32).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    let backup_ents_lba = last_lba - entries_bytes / ss;
    vec![
        (0, mbr),
        (ss, header(1, last_lba, 2)),
        (2 * ss, ents.clone()),
        (backup_ents_lba * ss, ents),
        (last_lba * ss, header(last_lba, 1, backup_ents_lba)),
    ]
}

/// Writes the GPT of `parts` into the disk image `disk` (its length gives
/// the sector count).
pub fn write_into(disk: &mut [u8], ss: u64, disk_guid: [u8; 16], parts: &[Entry]) {
    for (off, bytes) in regions(disk.len() as u64 / ss, ss, disk_guid, parts) {
        disk[off as usize..off as usize + bytes.len()].copy_from_slice(&bytes);
    }
}
