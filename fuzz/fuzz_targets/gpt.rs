//! Fuzzes partition-table detection and the GPT reader. The input is a small
//! disk image; it is read as given, and again with "EFI PART" headers at LBA 1
//! and the last LBA whose entry-array and header CRCs are re-sealed, so that
//! the checks behind the CRCs are reached. Any input must give a table or an
//! error, never a panic, and a table's partitions must lie within u64.
#![no_main]

use kzrescue::partition;
use kzrescue::source::{Source, check_bounds};
use libfuzzer_sys::fuzz_target;

struct Mem<'a>(&'a [u8]);

impl Source for Mem<'_> {
    fn name(&self) -> String {
        "fuzz".into()
    }
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> kzrescue::Result<()> {
        check_bounds(&|| self.name(), offset, buf.len(), self.size())?;
        let o = offset as usize;
        buf.copy_from_slice(&self.0[o..o + buf.len()]);
        Ok(())
    }
}

fn check(img: &[u8], ss: Option<u32>) {
    match partition::read(&Mem(img), ss) {
        Ok(t) => {
            for p in &t.partitions {
                assert!(p.start.checked_add(p.len).is_some());
            }
        }
        Err(e) => assert_eq!(e.to_string().lines().count(), 1),
    }
}

fn reseal(img: &mut [u8], ss: usize) {
    let n = img.len();
    if n < 3 * ss {
        return;
    }
    for hdr in [ss, (n / ss - 1) * ss] {
        img[hdr..hdr + 8].copy_from_slice(b"EFI PART");
        let start = u64::from_le_bytes(img[hdr + 72..hdr + 80].try_into().unwrap());
        let count = u32::from_le_bytes(img[hdr + 80..hdr + 84].try_into().unwrap()) as u64;
        let arr = start.saturating_mul(ss as u64);
        let end = arr.saturating_add(count.saturating_mul(128));
        if end <= n as u64 {
            let c = crc32fast::hash(&img[arr as usize..end as usize]);
            img[hdr + 88..hdr + 92].copy_from_slice(&c.to_le_bytes());
        }
        img[hdr + 16..hdr + 20].fill(0);
        let c = crc32fast::hash(&img[hdr..hdr + 92]);
        img[hdr + 16..hdr + 20].copy_from_slice(&c.to_le_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let ss = match mode & 3 {
        0 => None,
        1 => Some(512),
        2 => Some(4096),
        _ => Some(mode as u32),
    };
    check(body, ss);
    let mut img = body.to_vec();
    reseal(&mut img, if mode & 4 == 0 { 512 } else { 4096 });
    check(&img, ss);
});
