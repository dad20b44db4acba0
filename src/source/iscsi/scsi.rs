//! The SCSI side (SPC-4, SBC-3): the command descriptor blocks we send,
//! and the answers we decode: sense data, standard INQUIRY, the Device
//! Identification VPD page (0x83), REPORT LUNS, READ CAPACITY(16) and the
//! mode parameter header of MODE SENSE (its WP bit).

use crate::error::{Error, Result};

/// Operation codes we use.
#[allow(missing_docs)]
pub mod opcode {
    pub const TEST_UNIT_READY: u8 = 0x00;
    pub const INQUIRY: u8 = 0x12;
    pub const MODE_SENSE_6: u8 = 0x1a;
    pub const MODE_SENSE_10: u8 = 0x5a;
    pub const SYNCHRONIZE_CACHE_10: u8 = 0x35;
    pub const READ_16: u8 = 0x88;
    pub const WRITE_16: u8 = 0x8a;
    pub const SERVICE_ACTION_IN_16: u8 = 0x9e;
    pub const READ_CAPACITY_16_SA: u8 = 0x10;
    pub const REPORT_LUNS: u8 = 0xa0;
}

/// A 16-byte CDB (shorter CDBs are zero padded, as iSCSI carries them).
pub type Cdb = [u8; 16];

/// INQUIRY; `page` = Some(code) asks for a VPD page (EVPD=1).
pub fn inquiry(page: Option<u8>, alloc: u16) -> Cdb {
    let mut c = [0u8; 16];
    c[0] = opcode::INQUIRY;
    if let Some(p) = page {
        c[1] = 1;
        c[2] = p;
    }
    c[3..5].copy_from_slice(&alloc.to_be_bytes());
    c
}

/// TEST UNIT READY.
pub fn test_unit_ready() -> Cdb {
    [0u8; 16]
}

/// REPORT LUNS (select report 0: all logical units).
pub fn report_luns(alloc: u32) -> Cdb {
    let mut c = [0u8; 16];
    c[0] = opcode::REPORT_LUNS;
    c[6..10].copy_from_slice(&alloc.to_be_bytes());
    c
}

/// READ CAPACITY(16).
pub fn read_capacity16() -> Cdb {
    let mut c = [0u8; 16];
    c[0] = opcode::SERVICE_ACTION_IN_16;
    c[1] = opcode::READ_CAPACITY_16_SA;
    c[10..14].copy_from_slice(&32u32.to_be_bytes());
    c
}

/// READ(16) of `blocks` blocks at `lba`.
pub fn read16(lba: u64, blocks: u32) -> Cdb {
    let mut c = [0u8; 16];
    c[0] = opcode::READ_16;
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&blocks.to_be_bytes());
    c
}

/// WRITE(16) of `blocks` blocks at `lba`, FUA off (we flush explicitly).
pub fn write16(lba: u64, blocks: u32) -> Cdb {
    let mut c = [0u8; 16];
    c[0] = opcode::WRITE_16;
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&blocks.to_be_bytes());
    c
}

/// Mode page code asking for every page (SPC-4 "return all mode pages").
pub const ALL_MODE_PAGES: u8 = 0x3f;

/// MODE SENSE(6) of the current values of `page`, without block
/// descriptors (DBD=1); `alloc` at most 255.
pub fn mode_sense6(page: u8, alloc: u8) -> Cdb {
    let mut c = [0u8; 16];
    c[0] = opcode::MODE_SENSE_6;
    c[1] = 0x08;
    c[2] = page & 0x3f;
    c[4] = alloc;
    c
}

/// MODE SENSE(10) of the current values of `page`, without block
/// descriptors (DBD=1).
pub fn mode_sense10(page: u8, alloc: u16) -> Cdb {
    let mut c = [0u8; 16];
    c[0] = opcode::MODE_SENSE_10;
    c[1] = 0x08;
    c[2] = page & 0x3f;
    c[7..9].copy_from_slice(&alloc.to_be_bytes());
    c
}

/// The WP (write protect) bit of a direct-access device's mode parameter
/// header: bit 7 of the DEVICE-SPECIFIC PARAMETER byte, byte 2 of the
/// MODE SENSE(6) header, byte 3 of the MODE SENSE(10) header (SBC-3).
pub fn parse_mode_wp(d: &[u8], ten: bool) -> Result<bool> {
    let (what, at, header) = if ten {
        ("MODE SENSE(10) parameter header", 3usize, 8usize)
    } else {
        ("MODE SENSE(6) parameter header", 2, 4)
    };
    if d.len() < header {
        return Err(Error::corrupt(
            what,
            0,
            format!("{} bytes, {header} needed", d.len()),
        ));
    }
    Ok(d[at] & 0x80 != 0)
}

/// SYNCHRONIZE CACHE(10) of the whole LU (LBA 0, 0 blocks = to the end).
pub fn synchronize_cache() -> Cdb {
    let mut c = [0u8; 16];
    c[0] = opcode::SYNCHRONIZE_CACHE_10;
    c
}

/// Encodes a LUN number as the 8-byte LUN field (SAM-5 single level:
/// peripheral addressing below 256, flat addressing up to 16383).
pub fn encode_lun(lun: u64) -> Result<[u8; 8]> {
    let mut l = [0u8; 8];
    if lun < 256 {
        l[1] = lun as u8;
    } else if lun < 16384 {
        l[0] = 0x40 | (lun >> 8) as u8;
        l[1] = lun as u8;
    } else {
        return Err(Error::unsupported(
            "SCSI LUN",
            format!("LUN {lun} needs multi-level addressing"),
        ));
    }
    Ok(l)
}

/// Decodes an 8-byte LUN field to a number (peripheral and flat single-level
/// addressing; other forms are returned as the raw 64-bit value).
pub fn decode_lun(l: [u8; 8]) -> u64 {
    if l[2..].iter().all(|&b| b == 0) {
        match l[0] >> 6 {
            0 => return ((l[0] as u64 & 0x3f) << 8) | l[1] as u64,
            1 => return ((l[0] as u64 & 0x3f) << 8) | l[1] as u64,
            _ => {}
        }
    }
    u64::from_be_bytes(l)
}

/// Parses REPORT LUNS parameter data into LUN numbers.
pub fn parse_report_luns(d: &[u8]) -> Result<Vec<u64>> {
    let len = d
        .get(0..4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
        .ok_or_else(|| Error::corrupt("REPORT LUNS data", 0, "shorter than its 8-byte header"))?;
    if len % 8 != 0 {
        return Err(Error::corrupt(
            "REPORT LUNS data",
            0,
            format!("LUN list length {len} is not a multiple of 8"),
        ));
    }
    let avail = d.len().saturating_sub(8);
    let n = len.min(avail) / 8;
    Ok((0..n)
        .map(|i| {
            let mut l = [0u8; 8];
            l.copy_from_slice(&d[8 + i * 8..16 + i * 8]);
            decode_lun(l)
        })
        .collect())
}

/// READ CAPACITY(16) answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Capacity {
    /// Address of the last logical block.
    pub last_lba: u64,
    /// Logical block length in bytes.
    pub block_len: u32,
}

impl Capacity {
    /// Size of the LU in bytes.
    pub fn bytes(&self) -> Option<u64> {
        self.last_lba
            .checked_add(1)?
            .checked_mul(self.block_len as u64)
    }
}

/// Parses READ CAPACITY(16) parameter data.
pub fn parse_capacity16(d: &[u8]) -> Result<Capacity> {
    if d.len() < 12 {
        return Err(Error::corrupt(
            "READ CAPACITY(16) data",
            0,
            format!("{} bytes, 12 needed", d.len()),
        ));
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&d[0..8]);
    let last_lba = u64::from_be_bytes(a);
    let block_len = u32::from_be_bytes([d[8], d[9], d[10], d[11]]);
    if !(512..=1 << 20).contains(&block_len) || !block_len.is_power_of_two() {
        return Err(Error::corrupt(
            "READ CAPACITY(16) data",
            8,
            format!("logical block length {block_len}"),
        ));
    }
    let c = Capacity {
        last_lba,
        block_len,
    };
    if c.bytes().is_none() {
        return Err(Error::corrupt(
            "READ CAPACITY(16) data",
            0,
            "capacity overflows 64 bits",
        ));
    }
    Ok(c)
}

/// Standard INQUIRY data (the parts we show).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Inquiry {
    /// Peripheral qualifier (0 = connected).
    pub qualifier: u8,
    /// Peripheral device type (0 = direct access block device).
    pub device_type: u8,
    /// T10 vendor identification.
    pub vendor: String,
    /// Product identification.
    pub product: String,
    /// Product revision level.
    pub revision: String,
}

fn ascii_field(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '.'
            }
        })
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// Parses standard INQUIRY data.
pub fn parse_inquiry(d: &[u8]) -> Result<Inquiry> {
    if d.len() < 36 {
        return Err(Error::corrupt(
            "INQUIRY data",
            0,
            format!("{} bytes, 36 needed", d.len()),
        ));
    }
    Ok(Inquiry {
        qualifier: d[0] >> 5,
        device_type: d[0] & 0x1f,
        vendor: ascii_field(&d[8..16]),
        product: ascii_field(&d[16..32]),
        revision: ascii_field(&d[32..36]),
    })
}

/// Name of a peripheral device type.
pub fn device_type_name(t: u8) -> &'static str {
    match t {
        0x00 => "direct-access",
        0x01 => "sequential-access",
        0x05 => "cd/dvd",
        0x0c => "storage-array-controller",
        0x0d => "enclosure-services",
        0x1f => "unknown",
        _ => "other",
    }
}

/// One designation descriptor of VPD page 0x83.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Designator {
    /// Code set: 1 binary, 2 ASCII, 3 UTF-8.
    pub code_set: u8,
    /// Association: 0 logical unit, 1 target port, 2 target device.
    pub association: u8,
    /// Designator type: 1 T10 vendor, 2 EUI-64, 3 NAA, 8 SCSI name…
    pub designator_type: u8,
    /// The designator bytes.
    #[serde(with = "hex_bytes")]
    pub value: Vec<u8>,
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
}

impl Designator {
    /// The designator as a Solaris-style name (`naa.<hex>`, `eui.<hex>`) when
    /// it is a binary NAA or EUI-64 designator of the logical unit.
    pub fn lu_name(&self) -> Option<String> {
        if self.association != 0 || self.code_set != 1 {
            return None;
        }
        match self.designator_type {
            3 if matches!(self.value.len(), 8 | 16) => {
                Some(format!("naa.{}", hex::encode(&self.value)))
            }
            2 if matches!(self.value.len(), 8 | 12 | 16) => {
                Some(format!("eui.{}", hex::encode(&self.value)))
            }
            _ => None,
        }
    }
}

/// Parses the Device Identification VPD page (0x83) into its designators
/// in wire order.
pub fn parse_vpd83(d: &[u8]) -> Result<Vec<Designator>> {
    if d.len() < 4 {
        return Err(Error::corrupt(
            "VPD page 0x83",
            0,
            "shorter than its 4-byte header",
        ));
    }
    if d[1] != 0x83 {
        return Err(Error::corrupt(
            "VPD page 0x83",
            1,
            format!("page code {:#04x}", d[1]),
        ));
    }
    let len = u16::from_be_bytes([d[2], d[3]]) as usize;
    let end = (4 + len).min(d.len());
    let mut pos = 4;
    let mut out = Vec::new();
    while pos + 4 <= end {
        let h = &d[pos..pos + 4];
        let dlen = h[3] as usize;
        if pos + 4 + dlen > end {
            return Err(Error::corrupt(
                "VPD page 0x83 designation descriptor",
                pos as u64,
                format!("length {dlen} runs past the page end {end}"),
            ));
        }
        out.push(Designator {
            code_set: h[0] & 0x0f,
            association: (h[1] >> 4) & 0x03,
            designator_type: h[1] & 0x0f,
            value: d[pos + 4..pos + 4 + dlen].to_vec(),
        });
        pos += 4 + dlen;
    }
    Ok(out)
}

/// The LU names (`naa.…`/`eui.…`, lower-case hex) of a page 0x83.
pub fn lu_names(ds: &[Designator]) -> Vec<String> {
    ds.iter().filter_map(Designator::lu_name).collect()
}

/// Decoded sense data.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Sense {
    /// Response code (0x70/0x71 fixed, 0x72/0x73 descriptor).
    pub response_code: u8,
    /// Sense key.
    pub key: u8,
    /// Additional sense code.
    pub asc: u8,
    /// Additional sense code qualifier.
    pub ascq: u8,
    /// The INFORMATION field when valid (often the failing LBA).
    pub information: Option<u64>,
}

/// Decodes sense data (fixed or descriptor format).
pub fn parse_sense(d: &[u8]) -> Result<Sense> {
    let rc = *d
        .first()
        .ok_or_else(|| Error::corrupt("SCSI sense data", 0, "empty"))?
        & 0x7f;
    match rc {
        0x70 | 0x71 => {
            if d.len() < 14 {
                return Err(Error::corrupt(
                    "SCSI sense data",
                    0,
                    format!("fixed format of {} bytes, 14 needed", d.len()),
                ));
            }
            let valid = d[0] & 0x80 != 0;
            let info = u32::from_be_bytes([d[3], d[4], d[5], d[6]]) as u64;
            Ok(Sense {
                response_code: rc,
                key: d[2] & 0x0f,
                asc: d[12],
                ascq: d[13],
                information: valid.then_some(info),
            })
        }
        0x72 | 0x73 => {
            if d.len() < 8 {
                return Err(Error::corrupt(
                    "SCSI sense data",
                    0,
                    format!("descriptor format of {} bytes, 8 needed", d.len()),
                ));
            }
            let mut information = None;
            let end = (8 + d[7] as usize).min(d.len());
            let mut pos = 8;
            while pos + 2 <= end {
                let (ty, len) = (d[pos], d[pos + 1] as usize);
                if ty == 0 && len >= 10 && pos + 12 <= end && d[pos + 2] & 0x80 != 0 {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&d[pos + 4..pos + 12]);
                    information = Some(u64::from_be_bytes(a));
                }
                pos += 2 + len;
            }
            Ok(Sense {
                response_code: rc,
                key: d[1] & 0x0f,
                asc: d[2],
                ascq: d[3],
                information,
            })
        }
        _ => Err(Error::corrupt(
            "SCSI sense data",
            0,
            format!("response code {rc:#04x} is neither fixed nor descriptor format"),
        )),
    }
}

/// Name of a sense key.
pub fn sense_key_name(k: u8) -> &'static str {
    match k {
        0x0 => "NO SENSE",
        0x1 => "RECOVERED ERROR",
        0x2 => "NOT READY",
        0x3 => "MEDIUM ERROR",
        0x4 => "HARDWARE ERROR",
        0x5 => "ILLEGAL REQUEST",
        0x6 => "UNIT ATTENTION",
        0x7 => "DATA PROTECT",
        0x8 => "BLANK CHECK",
        0x9 => "VENDOR SPECIFIC",
        0xa => "COPY ABORTED",
        0xb => "ABORTED COMMAND",
        0xd => "VOLUME OVERFLOW",
        0xe => "MISCOMPARE",
        _ => "RESERVED",
    }
}

/// A few additional sense codes admins meet, in words.
pub fn asc_text(asc: u8, ascq: u8) -> Option<&'static str> {
    Some(match (asc, ascq) {
        (0x04, 0x00) => "logical unit not ready, cause not reportable",
        (0x04, 0x01) => "logical unit is becoming ready",
        (0x04, 0x02) => "logical unit not ready, initializing command required",
        (0x04, 0x03) => "logical unit not ready, manual intervention required",
        (0x0c, 0x00) => "write error",
        (0x11, 0x00) => "unrecovered read error",
        (0x1a, 0x00) => "parameter list length error",
        (0x20, 0x00) => "invalid command operation code",
        (0x21, 0x00) => "logical block address out of range",
        (0x24, 0x00) => "invalid field in CDB",
        (0x25, 0x00) => "logical unit not supported",
        (0x26, 0x00) => "invalid field in parameter list",
        (0x27, 0x00) => "write protected",
        (0x28, 0x00) => "not ready to ready change, medium may have changed",
        (0x29, 0x00) => "power on, reset, or bus device reset occurred",
        (0x2a, 0x01) => "mode parameters changed",
        (0x2a, 0x09) => "capacity data has changed",
        (0x3a, 0x00) => "medium not present",
        (0x3f, 0x0e) => "reported LUNs data has changed",
        (0x44, 0x00) => "internal target failure",
        (0x47, 0x00) => "SCSI parity error",
        (0x55, 0x03) => "insufficient resources",
        _ => return None,
    })
}

impl std::fmt::Display for Sense {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", sense_key_name(self.key))?;
        match asc_text(self.asc, self.ascq) {
            Some(t) => write!(f, ": {t} (ASC {:#04x} ASCQ {:#04x})", self.asc, self.ascq)?,
            None => write!(f, ": ASC {:#04x} ASCQ {:#04x}", self.asc, self.ascq)?,
        }
        if let Some(i) = self.information {
            write!(f, ", information {i:#x}")?;
        }
        Ok(())
    }
}

/// Name of a SCSI status byte.
pub fn status_name(s: u8) -> &'static str {
    match s {
        0x00 => "GOOD",
        0x02 => "CHECK CONDITION",
        0x04 => "CONDITION MET",
        0x08 => "BUSY",
        0x18 => "RESERVATION CONFLICT",
        0x28 => "TASK SET FULL",
        0x30 => "ACA ACTIVE",
        0x40 => "TASK ABORTED",
        _ => "unknown status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_sense() {
        let mut d = [0u8; 18];
        d[0] = 0xf0;
        d[2] = 0x05;
        d[3..7].copy_from_slice(&0x1234u32.to_be_bytes());
        d[7] = 10;
        d[12] = 0x21;
        let s = parse_sense(&d).unwrap();
        assert_eq!(
            s.to_string(),
            "ILLEGAL REQUEST: logical block address out of range (ASC 0x21 ASCQ 0x00), information 0x1234"
        );
    }

    #[test]
    fn descriptor_sense() {
        let d = [
            0x72, 0x03, 0x11, 0x00, 0, 0, 0, 12, 0x00, 10, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00,
        ];
        let s = parse_sense(&d).unwrap();
        assert_eq!(s.key, 3);
        assert_eq!(s.information, Some(0x1000));
        assert!(
            s.to_string()
                .starts_with("MEDIUM ERROR: unrecovered read error")
        );
    }

    #[test]
    fn mode_wp_bit() {
        // MODE SENSE(6): length, medium type, device-specific, bd length.
        assert!(parse_mode_wp(&[3, 0, 0x80, 0], false).unwrap());
        assert!(!parse_mode_wp(&[3, 0, 0x10, 0], false).unwrap());
        // MODE SENSE(10): two length bytes, medium type, device-specific…
        assert!(parse_mode_wp(&[0, 6, 0, 0x80, 0, 0, 0, 0], true).unwrap());
        assert!(!parse_mode_wp(&[0, 6, 0x80, 0, 0, 0, 0, 0], true).unwrap());
        let e = parse_mode_wp(&[3, 0], false).unwrap_err().to_string();
        assert!(e.contains("MODE SENSE(6) parameter header"), "{e}");
        assert_eq!(
            mode_sense6(ALL_MODE_PAGES, 255)[..5],
            [0x1a, 0x08, 0x3f, 0, 255]
        );
        assert_eq!(mode_sense10(ALL_MODE_PAGES, 512)[7..9], [2, 0]);
    }

    #[test]
    fn lun_codec() {
        for l in [0u64, 1, 255, 256, 16383] {
            assert_eq!(decode_lun(encode_lun(l).unwrap()), l);
        }
    }
}
