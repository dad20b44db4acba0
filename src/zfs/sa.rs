//! System attributes (SA): how ZPL 5+ stores a file's attributes.
//!
//! An SA buffer (a dnode's bonus, or its spill block) starts with a header:
//! the magic `0x2F505A` (u32, in the buffer's byte order), a u16 whose low
//! 10 bits name a *layout* and whose top 6 bits give the header size in
//! 8-byte units, then one u16 length per variable-length attribute of the
//! layout. The values follow the header, each 8-byte aligned, in the
//! layout's order. Layouts (number → attribute numbers) and the registry
//! (attribute number → name and fixed length, 0 for variable) are ZAPs in
//! the file system; see `formats/zpl.md`.

use crate::error::{Error, Result};
use crate::zfs::ByteOrder;
use std::collections::HashMap;

/// System-attribute header magic.
pub const SA_MAGIC: u32 = 0x2F505A;

/// The SA registry and layouts of a file system.
#[derive(Default, Debug, Clone)]
pub struct SaTables {
    /// attribute number → (name, fixed length or 0 for variable)
    attrs: HashMap<u16, (String, u16)>,
    /// layout number → attribute numbers
    layouts: HashMap<u64, Vec<u16>>,
}

impl SaTables {
    /// Adds a registry entry: `value` is the registry ZAP's value (attribute
    /// number in bits 0–15, fixed length in bits 24–39).
    pub fn register(&mut self, value: u64, name: String) {
        self.attrs.insert(
            (value & 0xffff) as u16,
            (name, ((value >> 24) & 0xffff) as u16),
        );
    }

    /// Adds layout `number`: the attribute numbers in storage order.
    pub fn add_layout(&mut self, number: u64, attrs: Vec<u16>) {
        self.layouts.insert(number, attrs);
    }

    /// The registry: attribute number → (name, fixed length or 0).
    pub fn attrs(&self) -> impl Iterator<Item = (u16, &str, u16)> {
        self.attrs
            .iter()
            .map(|(n, (name, len))| (*n, name.as_str(), *len))
    }

    /// The layouts: layout number → attribute numbers in storage order.
    pub fn layouts(&self) -> impl Iterator<Item = (u64, &[u16])> {
        self.layouts.iter().map(|(n, a)| (*n, a.as_slice()))
    }

    /// Parses one SA buffer into attribute name → value bytes (attributes
    /// not in the registry are named `attr<N>`); returns the buffer's byte
    /// order, told by the magic. Errors name the structure "SA buffer" at
    /// their byte offset in `buf`.
    pub fn parse(&self, buf: &[u8], out: &mut HashMap<String, Vec<u8>>) -> Result<ByteOrder> {
        let bad = |at: usize, detail: String| Error::corrupt("SA buffer", at as u64, detail);
        let bo = if ByteOrder::Little.u32(buf, 0) == Some(SA_MAGIC) {
            ByteOrder::Little
        } else if ByteOrder::Big.u32(buf, 0) == Some(SA_MAGIC) {
            ByteOrder::Big
        } else {
            return Err(bad(0, "no SA magic".into()));
        };
        let info = bo
            .u16(buf, 4)
            .ok_or_else(|| bad(4, "short SA header".into()))?;
        let layout = (info & 0x3ff) as u64;
        let hdr = ((info >> 10) & 0x3f) as usize * 8;
        let attrs = self
            .layouts
            .get(&layout)
            .ok_or_else(|| bad(4, format!("layout {layout} not in the SA layout table")))?;
        let mut off = hdr;
        let mut var_idx = 0usize;
        for a in attrs {
            let (name, fixed) = self
                .attrs
                .get(a)
                .cloned()
                .unwrap_or_else(|| (format!("attr{a}"), 0));
            let len = if fixed != 0 {
                fixed as usize
            } else {
                let at = 6 + 2 * var_idx;
                let l = bo
                    .u16(buf, at)
                    .ok_or_else(|| bad(at, "variable length beyond header".into()))?;
                var_idx += 1;
                if 6 + 2 * var_idx > hdr.max(8) {
                    return Err(bad(
                        at,
                        "more variable-length attributes than the header holds".into(),
                    ));
                }
                l as usize
            };
            let v = buf.get(off..off + len).ok_or_else(|| {
                bad(
                    off,
                    format!("attribute {name} of {len} bytes at {off} overruns the buffer"),
                )
            })?;
            out.insert(name, v.to_vec());
            off = (off + len).div_ceil(8) * 8;
        }
        Ok(bo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_sa_buffer_and_the_byte() {
        let mut t = SaTables::default();
        t.register(5 | (8 << 24), "ZPL_SIZE".into());
        t.add_layout(2, vec![5, 5]);
        let mut out = HashMap::new();
        let e = t.parse(&[0u8; 16], &mut out).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (crate::ErrorKind::Corrupt, Some(0)));
        assert_eq!(e.structure(), Some("SA buffer"));
        // header of 8 bytes, layout 2, then one 8-byte value: the second
        // value overruns at byte 16
        let mut b = vec![0u8; 16];
        b[..4].copy_from_slice(&SA_MAGIC.to_le_bytes());
        b[4..6].copy_from_slice(&(2u16 | (1 << 10)).to_le_bytes());
        let e = t.parse(&b, &mut out).unwrap_err();
        assert_eq!(e.offset(), Some(16), "{e}");
        b[4] = 3; // layout 3: not in the table
        let e = t.parse(&b, &mut out).unwrap_err();
        assert_eq!(e.offset(), Some(4), "{e}");
    }
}
