//! Fuzzes label decoding. The input is the start of a 112 KiB vdev_phys
//! (zero-filled after it); it is decoded as given, and again sealed with a
//! correct embedded checksum so that the nvlist decoder behind the checksum
//! is reached. It is also read as a whole (tiny) vdev through `read_labels`.
//! Any input must give a verdict per label, never a panic; problems are one
//! line; a valid label re-encodes to a vdev_phys that decodes to the same
//! config.
#![no_main]

use kzrescue::source::{Source, check_bounds};
use kzrescue::zfs::eck::{self, Endian};
use kzrescue::zfs::label::{self, LabelStatus, VDEV_PHYS_SIZE};
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

fn check(l: &label::LabelRead) {
    if let Some(p) = &l.problem {
        assert_eq!(p.lines().count(), 1, "{p}");
    }
    match &l.status {
        LabelStatus::Valid => {
            let cfg = l.config.as_ref().expect("valid label has a config");
            let (h, e) = (l.header.unwrap(), l.endian.unwrap());
            if let Ok(phys) = label::encode_vdev_phys(h, cfg, e, l.offset) {
                let again = label::decode_label(l.index, l.offset, phys);
                assert_eq!(again.status, LabelStatus::Valid);
                assert_eq!(again.config.as_ref(), Some(cfg));
            }
        }
        LabelStatus::ChecksumBad | LabelStatus::Blank => {}
        LabelStatus::Undecodable(p) | LabelStatus::Unreadable(p) => {
            assert_eq!(p.lines().count(), 1)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mut phys = vec![0u8; VDEV_PHYS_SIZE];
    let n = body.len().min(VDEV_PHYS_SIZE);
    phys[..n].copy_from_slice(&body[..n]);
    let off = u64::from(mode) * 0x40000;
    check(&label::decode_label(1, off, phys.clone()));
    let e = if mode & 1 == 0 { Endian::Big } else { Endian::Little };
    eck::seal(&mut phys, off + label::VDEV_PHYS_OFFSET, e);
    check(&label::decode_label(1, off, phys));
    let labels = label::read_labels(&Mem(body));
    assert_eq!(labels.len(), 4);
    labels.iter().for_each(check);
    let _ = label::compare(&labels);
});
