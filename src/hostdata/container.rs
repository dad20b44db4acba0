//! The host-data container: one sealed copy of the host data.
//!
//! On disk (all integers big-endian; `formats/hostdata.md` §4):
//!
//! ```text
//! 0   8  magic "KZRHOSTD"          32 12  nonce (CCM, random)
//! 8   2  format version (1)        44  4  payload length P
//! 10  2  header length (64)        48  4  body CRC32 (ciphertext ‖ tag)
//! 12  4  flags (0)                 52  8  reserved (0)
//! 16  8  generation                60  4  header CRC32 (bytes 0..60)
//! 24  8  key id
//! 64  P  AES-128-CCM ciphertext of the payload
//!        (AAD = the 64 header bytes with both CRC fields zeroed)
//! 64+P 16 CCM tag
//! ```
//!
//! The two CRCs detect accidental damage (a torn or zeroed write, a flipped
//! bit) before any cryptography; the key id tells a foreign key apart from a
//! forgery; the tag (checked in constant time by the `ccm` crate)
//! authenticates header and payload.

use super::keyfile::{HostKey, KEY_ID_LEN, KeyId};
use crate::error::Error;
use aes::Aes128;
use ccm::Ccm;
use ccm::aead::{AeadInOut, KeyInit};
use ccm::consts::{U12, U16};
use zerocopy::byteorder::big_endian::{U16 as Be16, U32 as Be32, U64 as Be64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};
use zeroize::Zeroizing;

/// The container magic, ASCII "KZRHOSTD".
pub const MAGIC: [u8; 8] = *b"KZRHOSTD";
/// The only format version this code reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the plaintext header in bytes.
pub const HEADER_LEN: usize = 64;
/// Length of the CCM nonce in bytes (so CCM's length field L is 3 bytes).
pub const NONCE_LEN: usize = 12;
/// Length of the CCM authentication tag in bytes.
pub const TAG_LEN: usize = 16;
/// Size of the slot that holds one copy (header, ciphertext, tag, zero padding).
pub const SLOT_SIZE: usize = 65536;
/// The largest payload that fits a slot.
pub const MAX_PAYLOAD: usize = SLOT_SIZE - HEADER_LEN - TAG_LEN;
/// Offset of the header CRC; the CRC covers the bytes before it.
pub const HEADER_CRC_OFFSET: usize = 60;

/// Header bytes zeroed in the associated data: the body CRC field.
const AAD_ZERO_BODY_CRC: std::ops::Range<usize> = 48..52;
/// Header bytes zeroed in the associated data: the header CRC field.
const AAD_ZERO_HEADER_CRC: std::ops::Range<usize> = 60..64;

/// AES-128-CCM with a 16-byte tag and a 12-byte nonce.
type Aes128Ccm = Ccm<Aes128, U16, U12>;

/// The header as it lies on disk.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy)]
#[repr(C)]
struct RawHeader {
    magic: [u8; 8],
    version: Be16,
    header_len: Be16,
    flags: Be32,
    generation: Be64,
    key_id: [u8; KEY_ID_LEN],
    nonce: [u8; NONCE_LEN],
    payload_len: Be32,
    body_crc: Be32,
    reserved: [u8; 8],
    header_crc: Be32,
}

const _: () = assert!(size_of::<RawHeader>() == HEADER_LEN);

/// A validated header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Write counter; bumped by every write, the newer valid copy wins.
    pub generation: u64,
    /// Id of the key the copy was sealed with.
    pub key_id: KeyId,
    /// CCM nonce used for this copy.
    pub nonce: [u8; NONCE_LEN],
    /// Length of the ciphertext (= plaintext) in bytes.
    pub payload_len: u32,
    /// CRC32 of ciphertext ‖ tag.
    pub body_crc: u32,
    /// CRC32 of header bytes 0..60.
    pub header_crc: u32,
}

/// Accidental damage found by the CRC and framing checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The part that is damaged ("host data header", "host data body").
    pub structure: &'static str,
    /// Offset inside the copy where the problem lies.
    pub offset: u64,
    /// What is wrong.
    pub detail: String,
}

impl Damage {
    fn new(structure: &'static str, offset: usize, detail: impl Into<String>) -> Self {
        Damage {
            structure,
            offset: offset as u64,
            detail: detail.into(),
        }
    }

    /// As a [`Error::Corrupt`], offset shifted by `base` (the copy's place on disk).
    pub fn to_error(&self, base: u64) -> Error {
        Error::corrupt(
            self.structure,
            self.offset.saturating_add(base),
            &self.detail,
        )
    }
}

/// What a slot holds, judged without a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Every byte of the slot is zero: no host data was ever written here.
    Empty,
    /// The slot does not start with the magic: something else is stored here.
    Foreign,
    /// The magic is there but the CRCs or framing fail: a torn, zeroed or
    /// otherwise damaged copy.
    Damaged(Damage),
    /// A version this code does not read.
    Unsupported(String),
    /// A structurally intact copy, ready to be opened with a key.
    Sealed(Sealed),
}

/// A structurally intact copy: header, its exact bytes (the AAD) and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The decoded header.
    pub header: Header,
    header_bytes: [u8; HEADER_LEN],
    /// The header with both CRC fields zeroed: the CCM associated data.
    aad: [u8; HEADER_LEN],
    ciphertext: Vec<u8>,
    tag: [u8; TAG_LEN],
}

/// Why a structurally intact copy could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The copy was sealed under another key (its key id differs).
    KeyIncorrect {
        /// Key id stored in the copy.
        stored: KeyId,
        /// Id of the key we were given.
        given: KeyId,
    },
    /// Key ids match, CRCs match, but the CCM tag does not verify: the
    /// header or body was changed by someone who recomputed the CRCs.
    Tampered,
}

fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Judges the bytes of a slot (at least the copy; usually the whole slot).
pub fn parse(slot: &[u8]) -> Slot {
    if slot.iter().all(|&b| b == 0) {
        return Slot::Empty;
    }
    if slot.len() < HEADER_LEN || slot[..8] != MAGIC {
        return Slot::Foreign;
    }
    let Ok(raw) = RawHeader::read_from_bytes(&slot[..HEADER_LEN]) else {
        return Slot::Foreign;
    };
    let stored = raw.header_crc.get();
    let computed = crc32(&slot[..HEADER_CRC_OFFSET]);
    if stored != computed {
        return Slot::Damaged(Damage::new(
            "host data header",
            HEADER_CRC_OFFSET,
            format!(
                "header CRC32 {stored:#010x} != computed {computed:#010x} (torn, zeroed or damaged copy)"
            ),
        ));
    }
    let version = raw.version.get();
    if version != FORMAT_VERSION {
        return Slot::Unsupported(format!(
            "host data format version {version} (this kzrescue reads version {FORMAT_VERSION})"
        ));
    }
    let header_len = raw.header_len.get();
    if header_len as usize != HEADER_LEN {
        return Slot::Damaged(Damage::new(
            "host data header",
            10,
            format!("header length {header_len}, version 1 has {HEADER_LEN}"),
        ));
    }
    let flags = raw.flags.get();
    if flags != 0 {
        return Slot::Unsupported(format!(
            "host data header flags {flags:#x} (none are defined)"
        ));
    }
    if raw.reserved != [0u8; 8] {
        return Slot::Damaged(Damage::new(
            "host data header",
            52,
            "reserved bytes are not zero",
        ));
    }
    let payload_len = raw.payload_len.get();
    if payload_len as usize > MAX_PAYLOAD {
        return Slot::Damaged(Damage::new(
            "host data header",
            44,
            format!("payload length {payload_len} exceeds the slot's {MAX_PAYLOAD}"),
        ));
    }
    let end = HEADER_LEN + payload_len as usize + TAG_LEN;
    if slot.len() < end {
        return Slot::Damaged(Damage::new(
            "host data body",
            slot.len(),
            format!("copy of {end} bytes is cut off at {}", slot.len()),
        ));
    }
    let body = &slot[HEADER_LEN..end];
    let body_stored = raw.body_crc.get();
    let body_computed = crc32(body);
    if body_stored != body_computed {
        return Slot::Damaged(Damage::new(
            "host data body",
            HEADER_LEN,
            format!(
                "body CRC32 {body_stored:#010x} != computed {body_computed:#010x} (torn or damaged ciphertext)"
            ),
        ));
    }
    let mut header_bytes = [0u8; HEADER_LEN];
    header_bytes.copy_from_slice(&slot[..HEADER_LEN]);
    let mut aad = header_bytes;
    aad[AAD_ZERO_BODY_CRC].fill(0);
    aad[AAD_ZERO_HEADER_CRC].fill(0);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&body[payload_len as usize..]);
    Slot::Sealed(Sealed {
        header: Header {
            generation: raw.generation.get(),
            key_id: KeyId(raw.key_id),
            nonce: raw.nonce,
            payload_len,
            body_crc: body_stored,
            header_crc: stored,
        },
        header_bytes,
        aad,
        ciphertext: body[..payload_len as usize].to_vec(),
        tag,
    })
}

impl Sealed {
    /// Decrypts and authenticates the payload with `key`. The plaintext is
    /// zeroized when dropped.
    pub fn open(&self, key: &HostKey) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let given = key.id();
        if given != self.header.key_id {
            return Err(OpenError::KeyIncorrect {
                stored: self.header.key_id,
                given,
            });
        }
        let cipher = Aes128Ccm::new_from_slice(key.expose()).map_err(|_| OpenError::Tampered)?;
        let mut buf = Zeroizing::new(self.ciphertext.clone());
        let nonce = ccm::Nonce::<U12>::from(self.header.nonce);
        let tag = ccm::Tag::<U16>::from(self.tag);
        cipher
            .decrypt_inout_detached(&nonce, &self.aad, buf.as_mut_slice().into(), &tag)
            .map_err(|_| OpenError::Tampered)?;
        Ok(buf)
    }

    /// The copy's exact bytes (header ‖ ciphertext ‖ tag).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_LEN + self.ciphertext.len() + TAG_LEN);
        v.extend_from_slice(&self.header_bytes);
        v.extend_from_slice(&self.ciphertext);
        v.extend_from_slice(&self.tag);
        v
    }
}

/// Recomputes both CRCs of a copy in place from its payload-length field, as
/// a forger who edits bytes would. For tests and fuzzing: a copy "fixed" this
/// way still fails its CCM tag. Does nothing when the buffer is too short.
pub fn fix_crcs(copy: &mut [u8]) {
    if copy.len() < HEADER_LEN {
        return;
    }
    let len = u32::from_be_bytes([copy[44], copy[45], copy[46], copy[47]]) as usize;
    if let Some(end) = len
        .checked_add(HEADER_LEN + TAG_LEN)
        .filter(|&e| e <= copy.len())
    {
        let body = crc32(&copy[HEADER_LEN..end]);
        copy[48..52].copy_from_slice(&body.to_be_bytes());
    }
    let h = crc32(&copy[..HEADER_CRC_OFFSET]);
    copy[HEADER_CRC_OFFSET..HEADER_LEN].copy_from_slice(&h.to_be_bytes());
}

/// A fresh random CCM nonce from the OS random generator.
pub fn random_nonce() -> crate::Result<[u8; NONCE_LEN]> {
    let mut n = [0u8; NONCE_LEN];
    getrandom::fill(&mut n).map_err(|e| {
        Error::io(
            "read 12 random bytes for a nonce",
            std::io::Error::other(e.to_string()),
        )
    })?;
    Ok(n)
}

/// Seals `plaintext` under `key` as one copy (header ‖ ciphertext ‖ tag,
/// without slot padding). `nonce` must never have been used with this key:
/// pass [`random_nonce`] unless reproducing a documented example.
pub fn seal(
    key: &HostKey,
    generation: u64,
    nonce: [u8; NONCE_LEN],
    plaintext: &[u8],
) -> crate::Result<Vec<u8>> {
    if plaintext.len() > MAX_PAYLOAD {
        return Err(Error::Usage(format!(
            "host data payload of {} bytes exceeds the container's {MAX_PAYLOAD}",
            plaintext.len()
        )));
    }
    let mut raw = RawHeader {
        magic: MAGIC,
        version: Be16::new(FORMAT_VERSION),
        header_len: Be16::new(HEADER_LEN as u16),
        flags: Be32::new(0),
        generation: Be64::new(generation),
        key_id: key.id().0,
        nonce,
        payload_len: Be32::new(plaintext.len() as u32),
        body_crc: Be32::new(0),
        reserved: [0; 8],
        header_crc: Be32::new(0),
    };
    // The AAD is the header with its two CRC fields zero (the body CRC
    // covers the tag, so it cannot be inside the tag's own input).
    let cipher = Aes128Ccm::new_from_slice(key.expose())
        .map_err(|_| Error::Usage("AES-128 key of wrong length".into()))?;
    let nonce_arr = ccm::Nonce::<U12>::from(nonce);
    let aad = raw.as_bytes().to_vec();
    let mut buf = Zeroizing::new(plaintext.to_vec());
    let tag = cipher
        .encrypt_inout_detached(&nonce_arr, &aad, buf.as_mut_slice().into())
        .map_err(|_| Error::Usage("CCM refused the payload length".into()))?;
    let mut body = buf.to_vec();
    body.extend_from_slice(&tag);
    raw.body_crc = Be32::new(crc32(&body));
    raw.header_crc = Be32::new(crc32(&raw.as_bytes()[..HEADER_CRC_OFFSET]));
    let mut out = raw.as_bytes().to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> HostKey {
        let mut k = [b; 16];
        HostKey::from_bytes(&mut k)
    }

    fn slot_of(copy: &[u8]) -> Vec<u8> {
        let mut s = vec![0u8; SLOT_SIZE];
        s[..copy.len()].copy_from_slice(copy);
        s
    }

    fn sealed(s: Slot) -> Sealed {
        match s {
            Slot::Sealed(x) => x,
            other => panic!("not sealed: {other:?}"),
        }
    }

    #[test]
    fn round_trip() {
        let k = key(7);
        let copy = seal(&k, 5, [9; 12], b"hello host data").unwrap();
        assert_eq!(copy.len(), HEADER_LEN + 15 + TAG_LEN);
        let s = sealed(parse(&slot_of(&copy)));
        assert_eq!(s.header.generation, 5);
        assert_eq!(s.header.key_id, k.id());
        assert_eq!(s.header.payload_len, 15);
        assert_eq!(s.to_bytes(), copy);
        assert_eq!(s.open(&k).unwrap().as_slice(), b"hello host data");
        // The ciphertext is not the plaintext.
        assert_ne!(&copy[64..79], b"hello host data");
    }

    #[test]
    fn empty_and_foreign() {
        assert_eq!(parse(&vec![0u8; SLOT_SIZE]), Slot::Empty);
        let mut s = vec![0u8; SLOT_SIZE];
        s[100] = 1;
        assert_eq!(parse(&s), Slot::Foreign);
    }

    #[test]
    fn wrong_key_is_key_incorrect_not_tampered() {
        let copy = seal(&key(1), 1, [0; 12], b"x").unwrap();
        let s = sealed(parse(&copy));
        assert!(matches!(
            s.open(&key(2)),
            Err(OpenError::KeyIncorrect { .. })
        ));
    }

    /// Every single-byte change of a copy is detected: as corrupt by a CRC,
    /// or (for the bytes the CRC checks cannot see) by the tag — never is a
    /// changed copy opened.
    #[test]
    fn every_byte_flip_is_detected() {
        let k = key(3);
        let copy = seal(&k, 42, [5; 12], &[0xAB; 100]).unwrap();
        for i in 0..copy.len() {
            for x in [0x01u8, 0x80, 0xFF] {
                let mut c = slot_of(&copy);
                c[i] ^= x;
                match parse(&c) {
                    Slot::Sealed(s) => {
                        panic!("flip {x:#x} at {i} parsed as intact: {:?}", s.header)
                    }
                    Slot::Damaged(_) | Slot::Foreign | Slot::Unsupported(_) => {}
                    Slot::Empty => panic!("flip at {i} made an empty slot"),
                }
            }
        }
    }

    /// A change with both CRCs recomputed (a forgery) is caught by the tag.
    #[test]
    fn forged_with_fixed_crcs_is_tampered() {
        let k = key(4);
        let copy = seal(&k, 1, [1; 12], &[0x11; 64]).unwrap();
        let fix = |c: &mut Vec<u8>| {
            let len = u32::from_be_bytes(c[44..48].try_into().unwrap()) as usize;
            let body = crc32fast::hash(&c[64..64 + len + 16]);
            c[48..52].copy_from_slice(&body.to_be_bytes());
            let h = crc32fast::hash(&c[..60]);
            c[60..64].copy_from_slice(&h.to_be_bytes());
        };
        // Header fields in the AAD (generation, nonce, reserved-free fields) and the body.
        for i in (16..24).chain(32..44).chain(64..copy.len()) {
            let mut c = copy.clone();
            c[i] ^= 0x40;
            fix(&mut c);
            let s = sealed(parse(&c));
            assert_eq!(s.open(&k), Err(OpenError::Tampered), "byte {i}");
        }
    }

    #[test]
    fn torn_copy_is_corrupt() {
        let k = key(5);
        let copy = seal(&k, 1, [2; 12], &[0x22; 3000]).unwrap();
        // Only the first 512-byte sector landed; the rest of the slot is old zeros.
        let mut torn = vec![0u8; SLOT_SIZE];
        torn[..512].copy_from_slice(&copy[..512]);
        match parse(&torn) {
            Slot::Damaged(d) => assert_eq!(d.structure, "host data body"),
            other => panic!("{other:?}"),
        }
        // The header was zeroed.
        let mut zeroed = slot_of(&copy);
        zeroed[8..64].fill(0);
        assert!(matches!(parse(&zeroed), Slot::Damaged(_)));
    }

    #[test]
    fn oversized_payload_refused() {
        assert!(seal(&key(1), 1, [0; 12], &vec![0u8; MAX_PAYLOAD + 1]).is_err());
        let full = seal(&key(1), 1, [0; 12], &vec![0u8; MAX_PAYLOAD]).unwrap();
        assert_eq!(full.len(), SLOT_SIZE);
        assert!(matches!(parse(&full), Slot::Sealed(_)));
    }

    #[test]
    fn header_layout_is_big_endian_at_documented_offsets() {
        let k = key(6);
        let copy = seal(&k, 0x0102030405060708, [0xEE; 12], b"abc").unwrap();
        assert_eq!(&copy[0..8], b"KZRHOSTD");
        assert_eq!(&copy[8..10], &[0, 1]);
        assert_eq!(&copy[10..12], &[0, 64]);
        assert_eq!(&copy[12..16], &[0; 4]);
        assert_eq!(&copy[16..24], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&copy[24..32], &k.id().0);
        assert_eq!(&copy[32..44], &[0xEE; 12]);
        assert_eq!(&copy[44..48], &[0, 0, 0, 3]);
        assert_eq!(
            u32::from_be_bytes(copy[48..52].try_into().unwrap()),
            crc32fast::hash(&copy[64..])
        );
        assert_eq!(&copy[52..60], &[0; 8]);
        assert_eq!(
            u32::from_be_bytes(copy[60..64].try_into().unwrap()),
            crc32fast::hash(&copy[..60])
        );
    }
}
