//! iSCSI PDUs (RFC 7143 §11): the 48-byte Basic Header Segment, optional
//! additional header segments, optional digests, and a data segment padded
//! to a multiple of four bytes.
//!
//! Everything here is a pure function of bytes: [`Pdu::decode_bhs`] checks a
//! received header before anything is allocated for its data, and
//! [`read_pdu`] refuses a data segment larger than the length we negotiated,
//! so a hostile target cannot make us allocate more than that.

use crate::error::{Error, Result};
use std::io::{Read, Write};

/// Length of the Basic Header Segment.
pub const BHS_LEN: usize = 48;

/// Largest data segment length the 24-bit field can express.
pub const MAX_DSL: usize = (1 << 24) - 1;

/// Initiator and target opcodes (byte 0, low six bits).
#[allow(missing_docs)]
pub mod op {
    pub const NOP_OUT: u8 = 0x00;
    pub const SCSI_CMD: u8 = 0x01;
    pub const TASK_MGMT: u8 = 0x02;
    pub const LOGIN_REQ: u8 = 0x03;
    pub const TEXT_REQ: u8 = 0x04;
    pub const DATA_OUT: u8 = 0x05;
    pub const LOGOUT_REQ: u8 = 0x06;
    pub const NOP_IN: u8 = 0x20;
    pub const SCSI_RSP: u8 = 0x21;
    pub const TASK_MGMT_RSP: u8 = 0x22;
    pub const LOGIN_RSP: u8 = 0x23;
    pub const TEXT_RSP: u8 = 0x24;
    pub const DATA_IN: u8 = 0x25;
    pub const LOGOUT_RSP: u8 = 0x26;
    pub const R2T: u8 = 0x31;
    pub const ASYNC: u8 = 0x32;
    pub const REJECT: u8 = 0x3f;
}

/// Human name of an opcode, for messages.
pub fn opcode_name(opcode: u8) -> &'static str {
    match opcode {
        op::NOP_OUT => "NOP-Out",
        op::SCSI_CMD => "SCSI Command",
        op::TASK_MGMT => "Task Management Request",
        op::LOGIN_REQ => "Login Request",
        op::TEXT_REQ => "Text Request",
        op::DATA_OUT => "SCSI Data-Out",
        op::LOGOUT_REQ => "Logout Request",
        op::NOP_IN => "NOP-In",
        op::SCSI_RSP => "SCSI Response",
        op::TASK_MGMT_RSP => "Task Management Response",
        op::LOGIN_RSP => "Login Response",
        op::TEXT_RSP => "Text Response",
        op::DATA_IN => "SCSI Data-In",
        op::LOGOUT_RSP => "Logout Response",
        op::R2T => "Ready To Transfer (R2T)",
        op::ASYNC => "Asynchronous Message",
        op::REJECT => "Reject",
        _ => "unknown opcode",
    }
}

/// Which digests protect PDUs on a connection (negotiated at login).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digests {
    /// CRC32C over the BHS and AHS.
    pub header: bool,
    /// CRC32C over the padded data segment.
    pub data: bool,
}

/// The iSCSI digest: CRC32C (Castagnoli), sent least significant byte first.
pub fn digest(bytes: &[u8]) -> [u8; 4] {
    crc32c::crc32c(bytes).to_le_bytes()
}

/// One PDU: the header (BHS), any AHS bytes, and the unpadded data segment.
#[derive(Clone, PartialEq, Eq)]
pub struct Pdu {
    /// The Basic Header Segment as sent on the wire.
    pub bhs: [u8; BHS_LEN],
    /// Additional header segments (a multiple of four bytes).
    pub ahs: Vec<u8>,
    /// The data segment without its padding.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Pdu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pdu({} itt={:#x} ahs={} data={})",
            opcode_name(self.opcode()),
            self.itt(),
            self.ahs.len(),
            self.data.len()
        )
    }
}

/// Lengths announced by a BHS, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BhsLengths {
    /// TotalAHSLength in bytes (the field counts 4-byte words).
    pub ahs: usize,
    /// DataSegmentLength in bytes, without padding.
    pub data: usize,
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

/// Rounds `n` up to a multiple of four (iSCSI segment padding).
pub fn padded(n: usize) -> usize {
    n.div_ceil(4) * 4
}

impl Pdu {
    /// A PDU with an all-zero header carrying `opcode`.
    pub fn new(opcode: u8) -> Self {
        let mut bhs = [0u8; BHS_LEN];
        bhs[0] = opcode & 0x3f;
        Pdu {
            bhs,
            ahs: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Opcode (low six bits of byte 0).
    pub fn opcode(&self) -> u8 {
        self.bhs[0] & 0x3f
    }
    /// The immediate-delivery bit (I, bit 6 of byte 0) of a request.
    pub fn set_immediate(&mut self) {
        self.bhs[0] |= 0x40;
    }
    /// Byte 1: the opcode-specific flags (F is bit 7).
    pub fn flags(&self) -> u8 {
        self.bhs[1]
    }
    /// Sets byte 1.
    pub fn set_flags(&mut self, f: u8) {
        self.bhs[1] = f;
    }
    /// The Final bit.
    pub fn final_bit(&self) -> bool {
        self.bhs[1] & 0x80 != 0
    }
    /// Reads a big-endian u32 at a BHS offset.
    pub fn u32_at(&self, at: usize) -> u32 {
        be32(&self.bhs, at)
    }
    /// Writes a big-endian u32 at a BHS offset (`at` ≤ 44).
    pub fn set_u32(&mut self, at: usize, v: u32) {
        if let Some(s) = self.bhs.get_mut(at..at + 4) {
            s.copy_from_slice(&v.to_be_bytes());
        }
    }
    /// Bytes 8..16: the LUN field (or ISID+TSIH in login PDUs).
    pub fn lun_field(&self) -> [u8; 8] {
        let mut l = [0u8; 8];
        l.copy_from_slice(&self.bhs[8..16]);
        l
    }
    /// Sets bytes 8..16.
    pub fn set_lun_field(&mut self, l: [u8; 8]) {
        self.bhs[8..16].copy_from_slice(&l);
    }
    /// Initiator Task Tag (bytes 16..20).
    pub fn itt(&self) -> u32 {
        self.u32_at(16)
    }
    /// Sets the Initiator Task Tag.
    pub fn set_itt(&mut self, v: u32) {
        self.set_u32(16, v)
    }

    /// Validates a received BHS and returns the lengths it announces.
    /// `max_data` is the largest data segment we accept (our
    /// MaxRecvDataSegmentLength, or a login/text bound).
    pub fn decode_bhs(bhs: &[u8; BHS_LEN], max_data: usize) -> Result<BhsLengths> {
        let opcode = bhs[0] & 0x3f;
        if !matches!(
            opcode,
            op::NOP_IN
                | op::SCSI_RSP
                | op::TASK_MGMT_RSP
                | op::LOGIN_RSP
                | op::TEXT_RSP
                | op::DATA_IN
                | op::LOGOUT_RSP
                | op::R2T
                | op::ASYNC
                | op::REJECT
        ) {
            return Err(Error::corrupt(
                "iSCSI PDU header",
                0,
                format!(
                    "opcode {opcode:#04x} ({}) is not a target opcode",
                    opcode_name(opcode)
                ),
            ));
        }
        let ahs = bhs[4] as usize * 4;
        let data = ((bhs[5] as usize) << 16) | ((bhs[6] as usize) << 8) | bhs[7] as usize;
        if data > max_data {
            return Err(Error::corrupt(
                "iSCSI PDU header",
                5,
                format!(
                    "{} announces a {data}-byte data segment, more than the {max_data} bytes negotiated",
                    opcode_name(opcode)
                ),
            ));
        }
        Ok(BhsLengths { ahs, data })
    }

    /// Serializes the PDU (filling in TotalAHSLength and DataSegmentLength),
    /// with padding and the digests that are on.
    pub fn encode(&self, digests: Digests) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(BHS_LEN + self.ahs.len() + padded(self.data.len()) + 8);
        self.encode_into(&mut out, digests)?;
        Ok(out)
    }

    /// [`Pdu::encode`], appended to `out` (several PDUs then leave in one
    /// write).
    pub fn encode_into(&self, out: &mut Vec<u8>, digests: Digests) -> Result<()> {
        if self.data.len() > MAX_DSL
            || !self.ahs.len().is_multiple_of(4)
            || self.ahs.len() > 255 * 4
        {
            return Err(Error::Usage(format!(
                "iSCSI {}: data segment of {} bytes or AHS of {} bytes cannot be sent",
                opcode_name(self.opcode()),
                self.data.len(),
                self.ahs.len()
            )));
        }
        let begin = out.len();
        let mut bhs = self.bhs;
        bhs[4] = (self.ahs.len() / 4) as u8;
        let n = self.data.len();
        bhs[5] = (n >> 16) as u8;
        bhs[6] = (n >> 8) as u8;
        bhs[7] = n as u8;
        out.extend_from_slice(&bhs);
        out.extend_from_slice(&self.ahs);
        if digests.header {
            let d = digest(&out[begin..]);
            out.extend_from_slice(&d);
        }
        if n > 0 {
            let start = out.len();
            out.extend_from_slice(&self.data);
            out.resize(start + padded(n), 0);
            if digests.data {
                let d = digest(&out[start..]);
                out.extend_from_slice(&d);
            }
        }
        Ok(())
    }

    /// Decodes one PDU from a complete byte slice (used by tests and the
    /// fuzzer; the network path uses [`read_pdu`]). Returns the PDU and the
    /// number of bytes it occupied.
    pub fn decode(bytes: &[u8], max_data: usize, digests: Digests) -> Result<(Pdu, usize)> {
        let mut cur = std::io::Cursor::new(bytes);
        let pdu = read_pdu(&mut cur, max_data, digests)?;
        Ok((pdu, cur.position() as usize))
    }
}

/// The structure named by errors about a PDU as a whole.
pub const STRUCTURE: &str = "iSCSI PDU";
/// How the detail of a [`STRUCTURE`] error begins when the byte stream
/// ended inside the PDU (on a socket: the connection was closed).
pub const CLOSED: &str = "connection closed inside the ";

fn short(what: &str, at: u64, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::corrupt(STRUCTURE, at, format!("{CLOSED}{what}"))
    } else {
        Error::io(format!("iSCSI: receiving the {what}"), e)
    }
}

/// Reads one PDU from `r`, verifying digests. A data segment longer than
/// `max_data` is refused before it is read.
pub fn read_pdu<R: Read>(r: &mut R, max_data: usize, digests: Digests) -> Result<Pdu> {
    let (mut pdu, lens) = read_header(r, max_data, digests)?;
    read_data(r, &mut pdu, lens, digests, None)?;
    Ok(pdu)
}

/// Reads and checks a BHS, its AHS and header digest. The data segment
/// (announced in the returned lengths) is still to be read with
/// [`read_data`].
pub fn read_header<R: Read>(
    r: &mut R,
    max_data: usize,
    digests: Digests,
) -> Result<(Pdu, BhsLengths)> {
    let mut pdu = Pdu::new(0);
    r.read_exact(&mut pdu.bhs)
        .map_err(|e| short("basic header segment", 0, e))?;
    let lens = Pdu::decode_bhs(&pdu.bhs, max_data)?;
    let mut hdr_crc = crc32c::crc32c(&pdu.bhs);
    if lens.ahs > 0 {
        pdu.ahs = vec![0u8; lens.ahs];
        r.read_exact(&mut pdu.ahs)
            .map_err(|e| short("additional header segment", 48, e))?;
        hdr_crc = crc32c::crc32c_append(hdr_crc, &pdu.ahs);
    }
    if digests.header {
        let pos = (BHS_LEN + lens.ahs) as u64;
        let mut d = [0u8; 4];
        r.read_exact(&mut d)
            .map_err(|e| short("header digest", pos, e))?;
        if u32::from_le_bytes(d) != hdr_crc {
            return Err(Error::corrupt(
                "iSCSI PDU header digest",
                pos,
                format!(
                    "CRC32C {:#010x} received, {:#010x} computed ({})",
                    u32::from_le_bytes(d),
                    hdr_crc,
                    opcode_name(pdu.opcode())
                ),
            ));
        }
    }
    Ok((pdu, lens))
}

/// Reads the data segment announced by `lens` (plus padding and digest).
/// With `into` (exactly `lens.data` bytes long) the data lands there and
/// `pdu.data` stays empty; this is how Data-In goes straight into the
/// caller's buffer.
pub fn read_data<R: Read>(
    r: &mut R,
    pdu: &mut Pdu,
    lens: BhsLengths,
    digests: Digests,
    into: Option<&mut [u8]>,
) -> Result<()> {
    if lens.data == 0 {
        return Ok(());
    }
    let mut pos = (BHS_LEN + lens.ahs + if digests.header { 4 } else { 0 }) as u64;
    let pad = padded(lens.data) - lens.data;
    let mut padbuf = [0u8; 3];
    let buf: &mut [u8] = match into {
        Some(b) if b.len() == lens.data => b,
        _ => {
            pdu.data = vec![0u8; lens.data];
            &mut pdu.data
        }
    };
    r.read_exact(buf)
        .map_err(|e| short("data segment", pos, e))?;
    r.read_exact(&mut padbuf[..pad])
        .map_err(|e| short("data segment padding", pos, e))?;
    pos += padded(lens.data) as u64;
    if digests.data {
        let crc = crc32c::crc32c_append(crc32c::crc32c(buf), &padbuf[..pad]);
        let mut d = [0u8; 4];
        r.read_exact(&mut d)
            .map_err(|e| short("data digest", pos, e))?;
        if u32::from_le_bytes(d) != crc {
            return Err(Error::corrupt(
                "iSCSI PDU data digest",
                pos,
                format!(
                    "CRC32C {:#010x} received, {crc:#010x} computed ({})",
                    u32::from_le_bytes(d),
                    opcode_name(pdu.opcode())
                ),
            ));
        }
    }
    Ok(())
}

impl Pdu {
    /// DataSegmentLength as announced in the header.
    pub fn data_segment_length(&self) -> usize {
        ((self.bhs[5] as usize) << 16) | ((self.bhs[6] as usize) << 8) | self.bhs[7] as usize
    }
}

/// Writes one PDU to `w`.
pub fn write_pdu<W: Write>(w: &mut W, pdu: &Pdu, digests: Digests) -> Result<()> {
    let bytes = pdu.encode(digests)?;
    w.write_all(&bytes)
        .map_err(|e| Error::io(format!("iSCSI: sending a {}", opcode_name(pdu.opcode())), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_with_digests() {
        let mut p = Pdu::new(op::NOP_IN);
        p.set_flags(0x80);
        p.set_itt(0x1234);
        p.data = b"hello".to_vec();
        for d in [
            Digests::default(),
            Digests {
                header: true,
                data: true,
            },
        ] {
            let bytes = p.encode(d).unwrap();
            assert_eq!(bytes.len() % 4, 0);
            let (q, used) = Pdu::decode(&bytes, 1024, d).unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(q.data, b"hello");
            assert_eq!(q.itt(), 0x1234);
        }
    }

    #[test]
    fn crc32c_check_value() {
        // The standard check value of CRC-32C over "123456789".
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn oversize_segment_refused_before_allocation() {
        let mut bhs = [0u8; BHS_LEN];
        bhs[0] = op::DATA_IN;
        bhs[5] = 0xff;
        bhs[6] = 0xff;
        bhs[7] = 0xff;
        let e = Pdu::decode(&bhs, 8192, Digests::default()).unwrap_err();
        assert!(e.to_string().contains("more than the 8192 bytes"), "{e}");
    }

    #[test]
    fn initiator_opcode_refused() {
        let bhs = [0u8; BHS_LEN];
        let e = Pdu::decode(&bhs, 8192, Digests::default()).unwrap_err();
        assert!(e.to_string().contains("not a target opcode"), "{e}");
    }

    #[test]
    fn bad_digest_detected() {
        let mut p = Pdu::new(op::NOP_IN);
        p.data = vec![1, 2, 3, 4, 5, 6];
        let d = Digests {
            header: true,
            data: true,
        };
        let mut bytes = p.encode(d).unwrap();
        bytes[60] ^= 1;
        assert!(
            Pdu::decode(&bytes, 1024, d)
                .unwrap_err()
                .to_string()
                .contains("data digest")
        );
        let mut bytes = p.encode(d).unwrap();
        bytes[3] ^= 1;
        assert!(
            Pdu::decode(&bytes, 1024, d)
                .unwrap_err()
                .to_string()
                .contains("header digest")
        );
    }
}
