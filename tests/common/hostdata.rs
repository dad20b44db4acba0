//! Test helpers for the host-data tests: Solaris-style GPT disk images.

use super::gpt;
use std::io::Write;
use std::path::Path;

/// Sector size of the images.
pub const SECTOR: u64 = 512;
/// Solaris usr (ZFS) type GUID.
pub const USR: &str = "6A898CC3-1DD2-11B2-99A6-080020736631";
/// Solaris reserved type GUID.
pub const RESERVED: &str = "6A945A3B-1DD2-11B2-99A6-080020736631";

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
    let mut next = 0usize;
    let entries: Vec<gpt::Entry> = parts
        .iter()
        .enumerate()
        .map(|(i, (ty, first, last))| {
            let slot = if *ty == RESERVED {
                8
            } else {
                next += 1;
                next - 1
            };
            let mut unique = [0u8; 16];
            unique[0] = i as u8 + 1;
            unique[15] = 0x5a;
            gpt::Entry {
                slot,
                type_guid: ty,
                unique,
                first: *first,
                last: *last,
                name: "",
            }
        })
        .collect();
    use std::os::unix::fs::FileExt;
    for (off, bytes) in gpt::regions(sectors, SECTOR, [0x42; 16], &entries) {
        f.write_all_at(&bytes, off).unwrap();
    }
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
