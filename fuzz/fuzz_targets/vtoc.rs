//! Fuzzes the Sun label readers. The input becomes, in turn: sector 0 of a
//! SPARC disk with the SMI magic and a valid checksum, and the label sector
//! of an x86 Solaris fdisk partition (MBR type 0xBF or 0x82 at a start the
//! input chooses) with the VTOC sanity word and a valid checksum. Any input
//! must give a table or an error, never a panic.
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

fn check(img: &[u8]) {
    match partition::read(&Mem(img), None) {
        Ok(t) => {
            for p in &t.partitions {
                assert!(p.start.checked_add(p.len).is_some());
            }
        }
        Err(e) => assert_eq!(e.to_string().lines().count(), 1),
    }
}

/// Sets the checksum word so that the XOR of all 256 words is zero.
fn seal(label: &mut [u8]) {
    let mut x = [0u8; 2];
    for w in label[..510].chunks(2) {
        x[0] ^= w[0];
        x[1] ^= w[1];
    }
    label[510..512].copy_from_slice(&x);
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() < 4 {
        return;
    }
    let (head, body) = data.split_at(4);
    // SPARC: the body is sector 0 (and what follows).
    let mut img = body.to_vec();
    img.resize(img.len().max(512), 0);
    img[508..510].copy_from_slice(&[0xda, 0xbe]);
    seal(&mut img[..512]);
    check(&img);
    // x86: an fdisk table pointing at a partition whose sector 1 is the body.
    let start = u32::from(head[0] % 8) + 1;
    let kind = if head[1] & 1 == 0 { 0xbf } else { 0x82 };
    let sectors = u32::from_le_bytes([head[2], head[3], 0, 0]);
    let label_off = (start as usize + 1) * 512;
    let mut img = vec![0u8; label_off];
    img[446] = 0x80;
    img[446 + 4] = kind;
    img[446 + 8..446 + 12].copy_from_slice(&start.to_le_bytes());
    img[446 + 12..446 + 16].copy_from_slice(&sectors.to_le_bytes());
    img[510..512].copy_from_slice(&[0x55, 0xaa]);
    img.extend_from_slice(body);
    img.resize(img.len().max(label_off + 512), 0);
    let label = &mut img[label_off..label_off + 512];
    label[12..16].copy_from_slice(&0x600d_deeeu32.to_le_bytes());
    label[508..510].copy_from_slice(&0xdabeu16.to_le_bytes());
    seal(label);
    check(&img);
});
