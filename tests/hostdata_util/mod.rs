//! Test helpers for the host-data tests: Solaris-style GPT disk images.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

/// Sector size of the images.
pub const SECTOR: u64 = 512;
/// Solaris usr (ZFS) type GUID.
pub const USR: &str = "6A898CC3-1DD2-11B2-99A6-080020736631";
/// Solaris reserved type GUID.
pub const RESERVED: &str = "6A945A3B-1DD2-11B2-99A6-080020736631";

fn guid_bytes(s: &str) -> [u8; 16] {
    let h: String = s.chars().filter(|c| *c != '-').collect();
    let b = hex::decode(h).unwrap();
    let mut out = [0u8; 16];
    out[0..4].copy_from_slice(&[b[3], b[2], b[1], b[0]]);
    out[4..6].copy_from_slice(&[b[5], b[4]]);
    out[6..8].copy_from_slice(&[b[7], b[6]]);
    out[8..16].copy_from_slice(&b[8..16]);
    out
}

/// Partitions of an image: (type GUID, first LBA, last LBA).
pub type Parts = Vec<(&'static str, u64, u64)>;

/// The Solaris layout for a disk of `sectors`: s0 (usr) from LBA 256 up to
/// the 8 MiB reserved s8 at the end of the usable area.
pub fn solaris_layout(sectors: u64) -> Parts {
    let last_usable = sectors - 34;
    let s8_first = last_usable - 16384 + 1;
    vec![(USR, 256, s8_first - 1), (RESERVED, s8_first, last_usable)]
}

/// Writes a GPT (protective MBR, primary and backup header and 9-entry
/// arrays, as Solaris writes them) onto `path` of `sectors` sectors. A
/// `None` in `parts` leaves that slot's entry unused. The reserved partition
/// goes into entry 9 (slice 8) when present, others from entry 1.
pub fn write_gpt(path: &Path, sectors: u64, parts: &Parts) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    f.set_len(sectors * SECTOR).unwrap();
    let nparts = 9usize;
    let mut entries = vec![0u8; nparts * 128];
    let mut next = 0usize;
    for (i, (ty, first, last)) in parts.iter().enumerate() {
        let idx = if *ty == RESERVED { 8 } else { next };
        if *ty != RESERVED {
            next += 1;
        }
        let e = &mut entries[idx * 128..(idx + 1) * 128];
        e[0..16].copy_from_slice(&guid_bytes(ty));
        let mut uniq = [0u8; 16];
        uniq[0] = i as u8 + 1;
        uniq[15] = 0x5a;
        e[16..32].copy_from_slice(&uniq);
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&last.to_le_bytes());
    }
    let entries_crc = crc32fast::hash(&entries);
    let header = |current: u64, backup: u64, entries_lba: u64| {
        let mut h = vec![0u8; 92];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&current.to_le_bytes());
        h[32..40].copy_from_slice(&backup.to_le_bytes());
        h[40..48].copy_from_slice(&34u64.to_le_bytes());
        h[48..56].copy_from_slice(&(sectors - 34).to_le_bytes());
        h[56..72].copy_from_slice(&[0x42; 16]);
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&(nparts as u32).to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let c = crc32fast::hash(&h);
        h[16..20].copy_from_slice(&c.to_le_bytes());
        h
    };
    let mut mbr = vec![0u8; 512];
    mbr[446 + 4] = 0xEE;
    mbr[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
    let n = u32::try_from(sectors - 1).unwrap_or(u32::MAX);
    mbr[446 + 12..446 + 16].copy_from_slice(&n.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    use std::os::unix::fs::FileExt;
    f.write_all_at(&mbr, 0).unwrap();
    f.write_all_at(&header(1, sectors - 1, 2), SECTOR).unwrap();
    f.write_all_at(&entries, 2 * SECTOR).unwrap();
    f.write_all_at(&entries, (sectors - 33) * SECTOR).unwrap();
    f.write_all_at(
        &header(sectors - 1, 1, sectors - 33),
        (sectors - 1) * SECTOR,
    )
    .unwrap();
    (&f).flush().unwrap();
}

/// A 16 MiB Solaris GPT image whose s0 is filled with pseudo-random bytes
/// (a stand-in for pool data whose hash must not change).
pub fn make_disk(path: &Path) -> Parts {
    let sectors = 16 * 1024 * 1024 / SECTOR;
    let parts = solaris_layout(sectors);
    write_gpt(path, sectors, &parts);
    let (_, first, last) = parts[0];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut data = vec![0u8; ((last - first + 1) * SECTOR) as usize];
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&data, first * SECTOR).unwrap();
    parts
}

/// (start, len) in bytes of the reserved partition of `parts`.
pub fn reserved_range(parts: &Parts) -> (u64, u64) {
    let (_, first, last) = parts.iter().find(|p| p.0 == RESERVED).unwrap();
    (first * SECTOR, (last - first + 1) * SECTOR)
}

/// SHA-256 of bytes [start, start+len) of `path`.
pub fn hash_range(path: &Path, start: u64, len: u64) -> String {
    use sha2::Digest;
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, start).unwrap();
    hex::encode(sha2::Sha256::digest(&buf))
}

/// SHA-256 of everything outside [start, start+len) of `path`.
pub fn hash_outside(path: &Path, start: u64, len: u64) -> String {
    use sha2::Digest;
    let all = std::fs::read(path).unwrap();
    let mut h = sha2::Sha256::new();
    h.update(&all[..start as usize]);
    h.update(&all[(start + len) as usize..]);
    hex::encode(h.finalize())
}
