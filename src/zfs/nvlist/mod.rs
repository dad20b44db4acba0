//! Name-value lists (libnvpair `nvlist_t`): the data model.
//!
//! ZFS stores a vdev label's configuration as a *packed* nvlist. This module
//! holds the decoded form; `xdr` and `native` turn bytes into it and back.
//!
//! Pair order is significant on disk (loaders walk pairs in order, and a
//! byte-exact re-encode needs it), so a list is a `Vec` of pairs, never a map.
//!
//! A packed nvlist starts with a 4-byte header: byte 0 is the encoding
//! ([`NV_ENCODE_NATIVE`] or [`NV_ENCODE_XDR`]), byte 1 the writer's byte
//! order (1 little-endian, 0 big-endian), bytes 2–3 reserved.
//! [`decode_packed`] dispatches on byte 0. See `formats/nvlist.md`.

use crate::zfs::ByteOrder;
use crate::{Error, Result};

pub mod json;
pub mod native;
pub mod xdr;

pub use xdr::{Packed, XdrStyle};

/// Header byte 0 of a packed list in the host's native layout.
pub const NV_ENCODE_NATIVE: u8 = 0;
/// Header byte 0 of an XDR packed list (every vdev label).
pub const NV_ENCODE_XDR: u8 = 1;
/// `NV_VERSION`: the only list version libnvpair accepts for embedded lists.
pub const NV_VERSION: i32 = 0;
/// `nvl_nvflag` bit: names are unique within the list.
pub const NV_UNIQUE_NAME: u32 = 1;
/// `nvl_nvflag` bit: (name, type) pairs are unique within the list.
pub const NV_UNIQUE_NAME_TYPE: u32 = 2;
/// Deepest nesting of embedded lists we accept or write (the kernel's
/// `nvpair_max_recursion`): the top-level list is depth 0.
pub const MAX_DEPTH: usize = 20;
/// Longest pair name: its in-memory size (length + NUL) is an int16.
pub const MAX_NAME_LEN: usize = i16::MAX as usize - 1;

/// Decodes a packed nvlist of either encoding, chosen by header byte 0.
/// Error offsets are relative to `buf`; a caller that knows where `buf`
/// lies adds that with [`Error::shifted`].
pub fn decode_packed(buf: &[u8]) -> Result<Packed> {
    match buf.first() {
        Some(&NV_ENCODE_NATIVE) => native::decode(buf),
        Some(&NV_ENCODE_XDR) => xdr::decode(buf),
        Some(b) => Err(Error::corrupt(
            "nvlist header",
            0,
            format!("unknown encoding {b} (0 = native, 1 = XDR)"),
        )),
        // the header byte was expected where the (empty) buffer ends
        None => Err(Error::corrupt(
            "nvlist header",
            buf.len() as u64,
            "empty buffer",
        )),
    }
}

/// One nvlist: `nvl_version`, `nvl_nvflag` and the pairs in stored order.
#[derive(Debug, Clone, PartialEq)]
pub struct NvList {
    /// `nvl_version`; 0 (`NV_VERSION`) in every list ZFS writes.
    pub version: i32,
    /// `nvl_nvflag`: 1 = `NV_UNIQUE_NAME`, 2 = `NV_UNIQUE_NAME_TYPE`.
    pub nvflag: u32,
    /// The pairs, in stored order.
    pub pairs: Vec<NvPair>,
}

/// One name-value pair.
#[derive(Debug, Clone, PartialEq)]
pub struct NvPair {
    /// The pair's name.
    pub name: String,
    /// The typed value.
    pub value: NvValue,
}

/// A typed value; the variant is the libnvpair `data_type_t`. Two values
/// are equal when they encode to the same bytes: doubles compare by bit
/// pattern (a NaN equals itself; 0.0 and -0.0 differ).
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub enum NvValue {
    /// `DATA_TYPE_BOOLEAN` (1): a presence flag with no value.
    Boolean,
    BooleanValue(bool),
    Byte(u8),
    Int8(i8),
    UInt8(u8),
    Int16(i16),
    UInt16(u16),
    Int32(i32),
    UInt32(u32),
    Int64(i64),
    UInt64(u64),
    HrTime(i64),
    Double(f64),
    String(String),
    ByteArray(Vec<u8>),
    BooleanArray(Vec<bool>),
    Int8Array(Vec<i8>),
    UInt8Array(Vec<u8>),
    Int16Array(Vec<i16>),
    UInt16Array(Vec<u16>),
    Int32Array(Vec<i32>),
    UInt32Array(Vec<u32>),
    Int64Array(Vec<i64>),
    UInt64Array(Vec<u64>),
    StringArray(Vec<String>),
    NvList(NvList),
    NvListArray(Vec<NvList>),
}

impl PartialEq for NvValue {
    fn eq(&self, other: &NvValue) -> bool {
        use NvValue::*;
        match (self, other) {
            (Boolean, Boolean) => true,
            (Double(a), Double(b)) => a.to_bits() == b.to_bits(),
            (BooleanValue(a), BooleanValue(b)) => a == b,
            (Byte(a), Byte(b)) => a == b,
            (Int8(a), Int8(b)) => a == b,
            (UInt8(a), UInt8(b)) => a == b,
            (Int16(a), Int16(b)) => a == b,
            (UInt16(a), UInt16(b)) => a == b,
            (Int32(a), Int32(b)) => a == b,
            (UInt32(a), UInt32(b)) => a == b,
            (Int64(a), Int64(b)) => a == b,
            (UInt64(a), UInt64(b)) => a == b,
            (HrTime(a), HrTime(b)) => a == b,
            (String(a), String(b)) => a == b,
            (ByteArray(a), ByteArray(b)) => a == b,
            (BooleanArray(a), BooleanArray(b)) => a == b,
            (Int8Array(a), Int8Array(b)) => a == b,
            (UInt8Array(a), UInt8Array(b)) => a == b,
            (Int16Array(a), Int16Array(b)) => a == b,
            (UInt16Array(a), UInt16Array(b)) => a == b,
            (Int32Array(a), Int32Array(b)) => a == b,
            (UInt32Array(a), UInt32Array(b)) => a == b,
            (Int64Array(a), Int64Array(b)) => a == b,
            (UInt64Array(a), UInt64Array(b)) => a == b,
            (StringArray(a), StringArray(b)) => a == b,
            (NvList(a), NvList(b)) => a == b,
            (NvListArray(a), NvListArray(b)) => a == b,
            _ => false,
        }
    }
}

impl NvValue {
    /// The libnvpair `data_type_t` number of this value.
    pub fn type_code(&self) -> i32 {
        match self {
            NvValue::Boolean => 1,
            NvValue::Byte(_) => 2,
            NvValue::Int16(_) => 3,
            NvValue::UInt16(_) => 4,
            NvValue::Int32(_) => 5,
            NvValue::UInt32(_) => 6,
            NvValue::Int64(_) => 7,
            NvValue::UInt64(_) => 8,
            NvValue::String(_) => 9,
            NvValue::ByteArray(_) => 10,
            NvValue::Int16Array(_) => 11,
            NvValue::UInt16Array(_) => 12,
            NvValue::Int32Array(_) => 13,
            NvValue::UInt32Array(_) => 14,
            NvValue::Int64Array(_) => 15,
            NvValue::UInt64Array(_) => 16,
            NvValue::StringArray(_) => 17,
            NvValue::HrTime(_) => 18,
            NvValue::NvList(_) => 19,
            NvValue::NvListArray(_) => 20,
            NvValue::BooleanValue(_) => 21,
            NvValue::Int8(_) => 22,
            NvValue::UInt8(_) => 23,
            NvValue::BooleanArray(_) => 24,
            NvValue::Int8Array(_) => 25,
            NvValue::UInt8Array(_) => 26,
            NvValue::Double(_) => 27,
        }
    }

    /// The `data_type_t` name without its `DATA_TYPE_` prefix, e.g. `UINT64`.
    pub fn type_name(&self) -> &'static str {
        type_name(self.type_code())
    }

    /// `nvp_value_elem`: 0 for BOOLEAN, 1 for scalars, strings and lists,
    /// the element count for arrays.
    pub fn nelem(&self) -> usize {
        match self {
            NvValue::Boolean => 0,
            NvValue::ByteArray(v) | NvValue::UInt8Array(v) => v.len(),
            NvValue::BooleanArray(v) => v.len(),
            NvValue::Int8Array(v) => v.len(),
            NvValue::Int16Array(v) => v.len(),
            NvValue::UInt16Array(v) => v.len(),
            NvValue::Int32Array(v) => v.len(),
            NvValue::UInt32Array(v) => v.len(),
            NvValue::Int64Array(v) => v.len(),
            NvValue::UInt64Array(v) => v.len(),
            NvValue::StringArray(v) => v.len(),
            NvValue::NvListArray(v) => v.len(),
            _ => 1,
        }
    }

    /// Size of the value in libnvpair's in-memory pair (`i_get_value_size`),
    /// before 8-byte alignment. Nested pairs are not included.
    pub fn value_size(&self) -> u64 {
        let n = self.nelem() as u64;
        match self {
            NvValue::Boolean => 0,
            NvValue::Byte(_) | NvValue::Int8(_) | NvValue::UInt8(_) => 1,
            NvValue::Int16(_) | NvValue::UInt16(_) => 2,
            NvValue::Int32(_) | NvValue::UInt32(_) | NvValue::BooleanValue(_) => 4,
            NvValue::Int64(_) | NvValue::UInt64(_) | NvValue::HrTime(_) | NvValue::Double(_) => 8,
            NvValue::String(s) => s.len() as u64 + 1,
            NvValue::ByteArray(_) | NvValue::Int8Array(_) | NvValue::UInt8Array(_) => n,
            NvValue::Int16Array(_) | NvValue::UInt16Array(_) => 2 * n,
            NvValue::Int32Array(_) | NvValue::UInt32Array(_) | NvValue::BooleanArray(_) => 4 * n,
            NvValue::Int64Array(_) | NvValue::UInt64Array(_) => 8 * n,
            NvValue::StringArray(v) => 8 * n + v.iter().map(|s| s.len() as u64 + 1).sum::<u64>(),
            NvValue::NvList(_) => NVLIST_T_SIZE,
            NvValue::NvListArray(_) => (8 + NVLIST_T_SIZE) * n,
        }
    }
}

/// `sizeof (nvpair_t)`: int32 size, int16 name_sz, int16 reserved, int32
/// nelem, int32 type.
pub(crate) const NVPAIR_T_SIZE: u64 = 16;
/// `sizeof (nvlist_t)`: int32 version, u32 nvflag, u64 priv, u32 flag, int32 pad.
pub(crate) const NVLIST_T_SIZE: u64 = 24;

/// Rounds up to a multiple of 8 (`NV_ALIGN`).
pub(crate) fn align8(x: u64) -> u64 {
    x.div_ceil(8).saturating_mul(8)
}

/// Rounds up to a multiple of 4 (`NV_ALIGN4`, the XDR unit).
pub(crate) fn align4(x: u64) -> u64 {
    x.div_ceil(4).saturating_mul(4)
}

/// The *decoded size* of a pair (`nvp_size`): its in-memory size in
/// libnvpair, stored in both encodings and checked exactly on unpack.
pub fn decoded_size(name: &str, value: &NvValue) -> u64 {
    align8(NVPAIR_T_SIZE + name.len() as u64 + 1) + align8(value.value_size())
}

/// The `DATA_TYPE_` name of a type number, or `?` when unknown.
pub fn type_name(code: i32) -> &'static str {
    const NAMES: [&str; 28] = [
        "UNKNOWN",
        "BOOLEAN",
        "BYTE",
        "INT16",
        "UINT16",
        "INT32",
        "UINT32",
        "INT64",
        "UINT64",
        "STRING",
        "BYTE_ARRAY",
        "INT16_ARRAY",
        "UINT16_ARRAY",
        "INT32_ARRAY",
        "UINT32_ARRAY",
        "INT64_ARRAY",
        "UINT64_ARRAY",
        "STRING_ARRAY",
        "HRTIME",
        "NVLIST",
        "NVLIST_ARRAY",
        "BOOLEAN_VALUE",
        "INT8",
        "UINT8",
        "BOOLEAN_ARRAY",
        "INT8_ARRAY",
        "UINT8_ARRAY",
        "DOUBLE",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("?")
}

/// What both nvlist writers share: the bytes so far, the byte order of the
/// integers (big for XDR, the header's for native), the dotted path of the
/// pair being written (for refusals), and the rules every list and pair
/// must keep before any of its bytes are written.
pub(crate) struct Encoder {
    pub(crate) out: Vec<u8>,
    pub(crate) order: ByteOrder,
    pub(crate) path: String,
}

impl Encoder {
    /// An encoder that starts after the 4 header bytes.
    pub(crate) fn new(header: [u8; 4], order: ByteOrder) -> Self {
        Encoder {
            out: header.to_vec(),
            order,
            path: String::new(),
        }
    }

    /// A refusal naming the pair being written.
    pub(crate) fn refuse(&self, detail: impl std::fmt::Display) -> Error {
        Error::Refused(format!("cannot encode {}: {detail}", structure(&self.path)))
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&self.order.put_u16(v));
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&self.order.put_u32(v));
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&self.order.put_u64(v));
    }

    /// Zero-fills the output up to `end`.
    pub(crate) fn zero_to(&mut self, end: usize) {
        if self.out.len() < end {
            self.out.resize(end, 0);
        }
    }

    /// Checks a list's header fields: an embedded list has version 0, and
    /// no list has unknown `nvflag` bits.
    pub(crate) fn check_list(&self, l: &NvList, embedded: bool) -> Result<()> {
        if embedded && l.version != NV_VERSION {
            return Err(self.refuse(format!(
                "embedded list version {} (must be {NV_VERSION})",
                l.version
            )));
        }
        if l.nvflag > 3 {
            return Err(self.refuse(format!("nvflag {:#x} has unknown bits", l.nvflag)));
        }
        Ok(())
    }

    /// Enters `pair`: extends the path and checks its name and uniqueness.
    /// Returns the mark to hand to [`Encoder::leave`].
    pub(crate) fn enter(&mut self, unique: &mut Unique, pair: &NvPair) -> Result<usize> {
        let mark = self.path.len();
        path_push(&mut self.path, &pair.name);
        if let Some(why) = check_name(pair.name.as_bytes()) {
            return Err(self.refuse(why));
        }
        if !unique.insert(&pair.name, pair.value.type_code()) {
            return Err(self.refuse("duplicate pair name"));
        }
        Ok(mark)
    }

    /// Enters element `i` of a list array; returns the mark.
    pub(crate) fn enter_index(&mut self, i: usize) -> usize {
        let mark = self.path.len();
        self.path.push_str(&format!("[{i}]"));
        mark
    }

    /// Leaves what was entered at `mark`.
    pub(crate) fn leave(&mut self, mark: usize) {
        self.path.truncate(mark);
    }

    /// Refuses a list nested one level below `depth` when that is too deep.
    pub(crate) fn deeper(&self, depth: usize) -> Result<()> {
        if depth + 1 > MAX_DEPTH {
            return Err(self.refuse(format!("lists nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// The finished bytes, refused past the 2 GiB a packed size can say.
    pub(crate) fn finish(self) -> Result<Vec<u8>> {
        if self.out.len() > i32::MAX as usize {
            return Err(Error::Refused(
                "cannot encode nvlist: packed size exceeds 2 GiB".into(),
            ));
        }
        Ok(self.out)
    }
}

/// Tracks the names seen in one list to enforce `nvl_nvflag` uniqueness.
pub(crate) struct Unique {
    nvflag: u32,
    seen: std::collections::HashSet<(String, i32)>,
}

impl Unique {
    pub(crate) fn new(nvflag: u32) -> Self {
        Unique {
            nvflag,
            seen: std::collections::HashSet::new(),
        }
    }

    /// Records `name`/`type_code`; returns false when it duplicates an
    /// earlier pair under the list's uniqueness rule.
    pub(crate) fn insert(&mut self, name: &str, type_code: i32) -> bool {
        if self.nvflag & NV_UNIQUE_NAME != 0 {
            self.seen.insert((name.to_string(), 0))
        } else if self.nvflag & NV_UNIQUE_NAME_TYPE != 0 {
            self.seen.insert((name.to_string(), type_code))
        } else {
            true
        }
    }
}

/// Why a pair name is not acceptable, if it is not.
pub(crate) fn check_name(name: &[u8]) -> Option<String> {
    if name.is_empty() {
        Some("empty pair name".into())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!("pair name of {} bytes is too long", name.len()))
    } else if name.contains(&0) {
        Some("NUL byte inside pair name".into())
    } else {
        None
    }
}

/// Appends one pair name to a dotted pair path (used in one-line error
/// messages, so control characters are escaped).
pub(crate) fn path_push(path: &mut String, name: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    for c in name.chars() {
        if c.is_control() {
            path.extend(c.escape_default());
        } else {
            path.push(c);
        }
    }
}

/// The structure name used in errors for the pair at `path`.
pub(crate) fn structure(path: &str) -> String {
    if path.is_empty() {
        "nvlist".to_string()
    } else {
        format!("nvlist pair {path}")
    }
}

impl NvList {
    /// An empty list with version 0 and `NV_UNIQUE_NAME`, as ZFS makes them.
    pub fn new() -> Self {
        NvList {
            version: 0,
            nvflag: 1,
            pairs: Vec::new(),
        }
    }

    /// The value of the first pair called `name`.
    pub fn get(&self, name: &str) -> Option<&NvValue> {
        self.pairs.iter().find(|p| p.name == name).map(|p| &p.value)
    }

    /// Mutable access to the value of the first pair called `name`.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut NvValue> {
        self.pairs
            .iter_mut()
            .find(|p| p.name == name)
            .map(|p| &mut p.value)
    }

    /// `name` as a u64, if present with that type.
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            NvValue::UInt64(v) => Some(*v),
            _ => None,
        }
    }

    /// `name` as a string, if present with that type.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            NvValue::String(v) => Some(v),
            _ => None,
        }
    }

    /// `name` as an embedded nvlist.
    pub fn get_list(&self, name: &str) -> Option<&NvList> {
        match self.get(name)? {
            NvValue::NvList(v) => Some(v),
            _ => None,
        }
    }

    /// `name` as an nvlist array.
    pub fn get_list_array(&self, name: &str) -> Option<&[NvList]> {
        match self.get(name)? {
            NvValue::NvListArray(v) => Some(v),
            _ => None,
        }
    }

    /// Replaces the value of `name` in place (keeping its position), or
    /// appends a new pair at the end when there is none.
    pub fn set(&mut self, name: &str, value: NvValue) {
        match self.get_mut(name) {
            Some(v) => *v = value,
            None => self.pairs.push(NvPair {
                name: name.to_string(),
                value,
            }),
        }
    }

    /// Removes the pair called `name`; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<NvValue> {
        let i = self.pairs.iter().position(|p| p.name == name)?;
        Some(self.pairs.remove(i).value)
    }
}

impl Default for NvList {
    fn default() -> Self {
        Self::new()
    }
}

/// The 4-byte `nvs_header_t` at the start of a packed nvlist, checked to
/// carry `encoding` (0 native, 1 XDR, named `name` in the error).
pub(crate) fn read_header(buf: &[u8], encoding: u8, name: &str) -> crate::Result<[u8; 4]> {
    let header: [u8; 4] = match buf.get(..4) {
        Some(h) => [h[0], h[1], h[2], h[3]],
        None => {
            return Err(crate::Error::corrupt(
                "nvlist header",
                0,
                format!("{} bytes, a packed nvlist needs at least 4", buf.len()),
            ));
        }
    };
    if header[0] != encoding {
        return Err(crate::Error::corrupt(
            "nvlist header",
            0,
            format!("encoding byte is {}, not {encoding} ({name})", header[0]),
        ));
    }
    Ok(header)
}
