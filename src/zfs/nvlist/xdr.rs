//! The XDR packed nvlist (`NV_ENCODE_XDR`): the encoding of every vdev label.
//!
//! After the 4-byte header, everything is big-endian 4-byte XDR units: the
//! list's version and nvflag, then each pair (encoded size, decoded size,
//! name, type, nelem, value), then two zero words. Embedded lists repeat the
//! same shape inside their pair's value. `formats/nvlist.md` has the details.
//!
//! Decoding is bounded by the buffer: every count and length is checked
//! against the bytes that remain before anything is allocated, nesting stops
//! at [`MAX_DEPTH`], and each pair's stored sizes must match what its value
//! implies. Encoding recomputes both sizes, so an unmodified list re-encodes
//! to the very bytes it came from.

use super::{
    Encoder, MAX_DEPTH, NV_ENCODE_XDR, NV_VERSION, NvList, NvPair, NvValue, Unique, align4,
    check_name, decoded_size, path_push, structure,
};
use crate::zfs::ByteOrder;
use crate::{Error, Result};

/// A decoded packed nvlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    /// The 4-byte header as read: encoding, writer's byte order, 2 reserved.
    pub header: [u8; 4],
    /// The top-level list.
    pub list: NvList,
    /// Bytes consumed, from the header through the list's terminator.
    pub len: usize,
    /// How the writer spelled the details that have two spellings, so that
    /// [`Packed::encode`] reproduces the input exactly.
    pub style: XdrStyle,
}

impl Packed {
    /// Re-encodes the list with the header and [`XdrStyle`] it was read with
    /// (XDR or native, per header byte 0).
    pub fn encode(&self) -> Result<Vec<u8>> {
        match self.header[0] {
            NV_ENCODE_XDR => encode_with(self.header, &self.list, self.style),
            _ => super::native::encode(self.header, &self.list),
        }
    }
}

/// The two writer-dependent spellings an XDR stream can have. The default is
/// what kzrescue writes for new data.
///
/// Neither appears in vdev labels (which hold only UINT64, STRING, BOOLEAN
/// and lists); both appear in lists packed by userland libnvpair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XdrStyle {
    /// BYTE, INT8, UINT8 and INT16 values (and array elements) whose top bit
    /// is set are sign-extended to the 4-byte XDR word (`ffffffff` for 0xff),
    /// as userland libtirpc and Solaris write them; otherwise zero-extended
    /// (`000000ff`), as the Linux kernel's XDR writes them. UINT16 is always
    /// zero-extended (`xdr_u_short`).
    pub sign_extend: bool,
    /// An empty INT16…UINT64, BOOLEAN, INT8 or UINT8 array counts a 4-byte
    /// element-count word in its pair's encoded size (and in every enclosing
    /// pair's) that is not actually written, and the packed buffer carries 4
    /// spare zero bytes per such pair at its end: libnvpair's own output.
    pub empty_array_quirk: bool,
}

/// Decodes an XDR packed nvlist; `buf` starts at the header and may extend
/// past the list's end (a label's zero fill). Error offsets are within `buf`.
pub fn decode(buf: &[u8]) -> Result<Packed> {
    let header = super::read_header(buf, NV_ENCODE_XDR, "XDR")?;
    let mut r = Reader {
        buf,
        pos: 4,
        path: String::new(),
        sign_seen: false,
        quirk_seen: false,
    };
    let (list, _) = r.list(0)?;
    Ok(Packed {
        header,
        list,
        len: r.pos,
        style: XdrStyle {
            sign_extend: r.sign_seen,
            empty_array_quirk: r.quirk_seen,
        },
    })
}

/// Encodes `list` as an XDR packed nvlist with `header` kept verbatim
/// (byte 0 must be 1), in kzrescue's own style: zero-extended small words and
/// exact encoded sizes. Each pair's encoded and decoded sizes are recomputed.
pub fn encode(header: [u8; 4], list: &NvList) -> Result<Vec<u8>> {
    encode_with(header, list, XdrStyle::default())
}

/// [`encode`] in a chosen [`XdrStyle`].
pub fn encode_with(header: [u8; 4], list: &NvList, style: XdrStyle) -> Result<Vec<u8>> {
    if header[0] != NV_ENCODE_XDR {
        return Err(Error::Refused(format!(
            "cannot encode an XDR nvlist with header byte 0 = {} (must be 1)",
            header[0]
        )));
    }
    let mut w = Writer {
        enc: Encoder::new(header, ByteOrder::Big),
        style,
    };
    let empties = w.list(list, 0)?;
    if style.empty_array_quirk {
        // libnvpair sizes its buffer with the phantom count words included.
        let extra = usize::try_from(empties.saturating_mul(4)).unwrap_or(usize::MAX);
        let end = w.enc.out.len().saturating_add(extra);
        w.enc.zero_to(end);
    }
    w.enc.finish()
}

/// Whether `type_code` is an array coded with `xdr_array` (count word first).
fn is_xdr_array(type_code: i32) -> bool {
    matches!(type_code, 11..=16 | 24..=26)
}

/// Cursor over the stream with the path of the pair being decoded.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: String,
    sign_seen: bool,
    quirk_seen: bool,
}

impl Reader<'_> {
    fn err(&self, at: usize, detail: impl std::fmt::Display) -> Error {
        Error::corrupt(structure(&self.path), at as u64, detail)
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn bytes(&mut self, n: usize, what: &str) -> Result<&[u8]> {
        let start = self.pos;
        match start
            .checked_add(n)
            .and_then(|end| self.buf.get(start..end))
        {
            Some(b) => {
                self.pos = start + n;
                Ok(b)
            }
            None => Err(self.err(
                start,
                format!(
                    "{what}: needs {n} bytes, only {} left",
                    self.buf.len().saturating_sub(start)
                ),
            )),
        }
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(self.u32(what)? as i32)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// An XDR string: length word, bytes, zero pad to 4. Returns the raw bytes.
    fn raw_string(&mut self, what: &str) -> Result<Vec<u8>> {
        let at = self.pos;
        let len = self.u32(what)? as usize;
        let padded = align4(len as u64) as usize;
        if padded > self.remaining() {
            return Err(self.err(
                at,
                format!(
                    "{what}: length {len} exceeds the {} bytes left",
                    self.remaining()
                ),
            ));
        }
        let s = self.bytes(len, what)?.to_vec();
        self.bytes(padded - len, what)?;
        Ok(s)
    }

    /// A string value: no NUL inside, valid UTF-8.
    fn string(&mut self, what: &str) -> Result<String> {
        let at = self.pos;
        let raw = self.raw_string(what)?;
        if raw.contains(&0) {
            return Err(self.err(at, format!("{what}: NUL byte inside the string")));
        }
        String::from_utf8(raw).map_err(|_| self.err(at, format!("{what}: not valid UTF-8")))
    }

    /// A 1-byte value in a 4-byte word, sign- or zero-extended.
    fn char_word(&mut self, what: &str) -> Result<u8> {
        let at = self.pos;
        let w = self.u32(what)?;
        if w <= 0xff {
            Ok(w as u8)
        } else if w >= 0xffff_ff80 {
            self.sign_seen = true;
            Ok(w as u8)
        } else {
            Err(self.err(at, format!("{what}: word {w:#010x} is not a 1-byte value")))
        }
    }

    /// A 2-byte value in a 4-byte word, sign- or zero-extended.
    fn short_word(&mut self, what: &str, unsigned: bool) -> Result<u16> {
        let at = self.pos;
        let w = self.u32(what)?;
        if w <= 0xffff {
            Ok(w as u16)
        } else if w >= 0xffff_8000 {
            if !unsigned {
                self.sign_seen = true;
            }
            Ok(w as u16)
        } else {
            Err(self.err(at, format!("{what}: word {w:#010x} is not a 2-byte value")))
        }
    }

    fn bool_word(&mut self, what: &str) -> Result<bool> {
        let at = self.pos;
        match self.u32(what)? {
            0 => Ok(false),
            1 => Ok(true),
            w => Err(self.err(at, format!("{what}: boolean word is {w}, not 0 or 1"))),
        }
    }

    /// One list (version, nvflag, pairs, terminator). Returns the list and
    /// the number of empty xdr_array pairs inside it, at any depth.
    fn list(&mut self, depth: usize) -> Result<(NvList, u64)> {
        let at = self.pos;
        let version = self.i32("list version")?;
        if depth > 0 && version != NV_VERSION {
            return Err(self.err(
                at,
                format!("embedded list version is {version}, not {NV_VERSION}"),
            ));
        }
        let nvflag_at = self.pos;
        let nvflag = self.u32("list nvflag")?;
        if nvflag > 3 {
            return Err(self.err(nvflag_at, format!("nvflag {nvflag:#x} has unknown bits")));
        }
        let mut pairs = Vec::new();
        let mut unique = Unique::new(nvflag);
        let mut empties = 0u64;
        loop {
            let pair_at = self.pos;
            let enc = self.u32("pair encoded size")?;
            let dec = self.u32("pair decoded size")?;
            if enc == 0 && dec == 0 {
                break;
            }
            if enc == 0 || dec == 0 {
                return Err(self.err(
                    pair_at,
                    format!("half a terminator: encoded size {enc}, decoded size {dec}"),
                ));
            }
            let name_at = self.pos;
            let raw = self.raw_string("pair name")?;
            if let Some(why) = check_name(&raw) {
                return Err(self.err(name_at, why));
            }
            let name = String::from_utf8(raw)
                .map_err(|_| self.err(name_at, "pair name is not valid UTF-8"))?;
            let mark = self.path.len();
            path_push(&mut self.path, &name);
            let (value, inner_empties) = self.value(depth)?;
            let actual = (self.pos - pair_at) as u64;
            let enc = enc as u64;
            if enc != actual {
                if inner_empties > 0 && enc == actual + 4 * inner_empties {
                    self.quirk_seen = true;
                } else {
                    return Err(self.err(
                        pair_at,
                        format!("encoded size {enc} but the pair takes {actual} bytes"),
                    ));
                }
            }
            let want = decoded_size(&name, &value);
            if dec as u64 != want {
                return Err(self.err(pair_at + 4, format!("decoded size {dec}, expected {want}")));
            }
            if !unique.insert(&name, value.type_code()) {
                return Err(self.err(pair_at, "duplicate pair name"));
            }
            self.path.truncate(mark);
            empties += inner_empties;
            pairs.push(NvPair { name, value });
        }
        Ok((
            NvList {
                version,
                nvflag,
                pairs,
            },
            empties,
        ))
    }

    /// Checks that `n` elements of at least `min` bytes each can fit.
    fn fits(&self, at: usize, n: usize, min: usize) -> Result<()> {
        if n.saturating_mul(min) > self.remaining() {
            return Err(self.err(
                at,
                format!(
                    "{n} elements cannot fit in the {} bytes left",
                    self.remaining()
                ),
            ));
        }
        Ok(())
    }

    /// Type, nelem and the value of a pair whose name was just read.
    fn value(&mut self, depth: usize) -> Result<(NvValue, u64)> {
        let type_at = self.pos;
        let code = self.i32("pair data type")?;
        let nelem_at = self.pos;
        let nelem = self.i32("pair nelem")?;
        let n = match usize::try_from(nelem) {
            Ok(n) => n,
            Err(_) => return Err(self.err(nelem_at, format!("negative nelem {nelem}"))),
        };
        let want_n = match code {
            1 => Some(0),
            2..=9 | 18 | 19 | 21..=23 | 27 => Some(1),
            10..=17 | 20 | 24..=26 => None,
            _ => return Err(self.err(type_at, format!("unknown data type {code}"))),
        };
        if let Some(w) = want_n
            && n != w
        {
            return Err(self.err(
                nelem_at,
                format!("{} needs nelem {w}, found {n}", super::type_name(code)),
            ));
        }
        if n == 0 {
            // Nothing at all follows an empty value, not even a count word.
            let v = match code {
                1 => NvValue::Boolean,
                10 => NvValue::ByteArray(Vec::new()),
                11 => NvValue::Int16Array(Vec::new()),
                12 => NvValue::UInt16Array(Vec::new()),
                13 => NvValue::Int32Array(Vec::new()),
                14 => NvValue::UInt32Array(Vec::new()),
                15 => NvValue::Int64Array(Vec::new()),
                16 => NvValue::UInt64Array(Vec::new()),
                17 => NvValue::StringArray(Vec::new()),
                20 => NvValue::NvListArray(Vec::new()),
                24 => NvValue::BooleanArray(Vec::new()),
                25 => NvValue::Int8Array(Vec::new()),
                _ => NvValue::UInt8Array(Vec::new()),
            };
            return Ok((v, u64::from(is_xdr_array(code))));
        }
        if is_xdr_array(code) {
            let at = self.pos;
            let count = self.u32("array count")?;
            if count as usize != n {
                return Err(self.err(at, format!("array count {count} but nelem {n}")));
            }
            let el = if matches!(code, 15 | 16) { 8 } else { 4 };
            self.fits(at, n, el)?;
        }
        let mut empties = 0;
        let v = match code {
            2 => NvValue::Byte(self.char_word("BYTE value")?),
            3 => NvValue::Int16(self.short_word("INT16 value", false)? as i16),
            4 => NvValue::UInt16(self.short_word("UINT16 value", true)?),
            5 => NvValue::Int32(self.i32("INT32 value")?),
            6 => NvValue::UInt32(self.u32("UINT32 value")?),
            7 => NvValue::Int64(self.u64("INT64 value")? as i64),
            8 => NvValue::UInt64(self.u64("UINT64 value")?),
            9 => NvValue::String(self.string("STRING value")?),
            10 => {
                let at = self.pos;
                self.fits(at, align4(n as u64) as usize, 1)?;
                let b = self.bytes(n, "BYTE_ARRAY value")?.to_vec();
                self.bytes(align4(n as u64) as usize - n, "BYTE_ARRAY pad")?;
                NvValue::ByteArray(b)
            }
            11 => NvValue::Int16Array(self.elems(n, |r| {
                r.short_word("INT16_ARRAY element", false).map(|v| v as i16)
            })?),
            12 => {
                NvValue::UInt16Array(self.elems(n, |r| r.short_word("UINT16_ARRAY element", true))?)
            }
            13 => NvValue::Int32Array(self.elems(n, |r| r.i32("INT32_ARRAY element"))?),
            14 => NvValue::UInt32Array(self.elems(n, |r| r.u32("UINT32_ARRAY element"))?),
            15 => NvValue::Int64Array(
                self.elems(n, |r| r.u64("INT64_ARRAY element").map(|v| v as i64))?,
            ),
            16 => NvValue::UInt64Array(self.elems(n, |r| r.u64("UINT64_ARRAY element"))?),
            17 => {
                let at = self.pos;
                self.fits(at, n, 4)?;
                NvValue::StringArray(self.elems(n, |r| r.string("STRING_ARRAY element"))?)
            }
            18 => NvValue::HrTime(self.u64("HRTIME value")? as i64),
            19 => {
                let (l, e) = self.embedded(depth)?;
                empties = e;
                NvValue::NvList(l)
            }
            20 => {
                let at = self.pos;
                self.fits(at, n, 16)?;
                let mut v = Vec::with_capacity(n);
                for i in 0..n {
                    let mark = self.path.len();
                    self.path.push_str(&format!("[{i}]"));
                    let (l, e) = self.embedded(depth)?;
                    self.path.truncate(mark);
                    empties += e;
                    v.push(l);
                }
                NvValue::NvListArray(v)
            }
            21 => NvValue::BooleanValue(self.bool_word("BOOLEAN_VALUE value")?),
            22 => NvValue::Int8(self.char_word("INT8 value")? as i8),
            23 => NvValue::UInt8(self.char_word("UINT8 value")?),
            24 => NvValue::BooleanArray(self.elems(n, |r| r.bool_word("BOOLEAN_ARRAY element"))?),
            25 => NvValue::Int8Array(
                self.elems(n, |r| r.char_word("INT8_ARRAY element").map(|v| v as i8))?,
            ),
            26 => NvValue::UInt8Array(self.elems(n, |r| r.char_word("UINT8_ARRAY element"))?),
            _ => NvValue::Double(f64::from_bits(self.u64("DOUBLE value")?)),
        };
        Ok((v, empties))
    }

    /// `n` elements read by `f`; the caller has checked that they fit.
    fn elems<T>(&mut self, n: usize, mut f: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(f(self)?);
        }
        Ok(v)
    }

    /// An embedded list one level below `depth`.
    fn embedded(&mut self, depth: usize) -> Result<(NvList, u64)> {
        if depth + 1 > MAX_DEPTH {
            return Err(self.err(
                self.pos,
                format!("lists nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.list(depth + 1)
    }
}

/// The XDR writer: the shared [`Encoder`] (big-endian words) and the
/// libnvpair quirks to reproduce.
struct Writer {
    enc: Encoder,
    style: XdrStyle,
}

impl Writer {
    fn pad(&mut self) {
        while !self.enc.out.len().is_multiple_of(4) {
            self.enc.out.push(0);
        }
    }

    fn string(&mut self, s: &str) -> Result<()> {
        if s.as_bytes().contains(&0) {
            return Err(self.enc.refuse("NUL byte inside a string"));
        }
        let len = u32::try_from(s.len()).map_err(|_| self.enc.refuse("string too long"))?;
        self.enc.u32(len);
        self.enc.out.extend_from_slice(s.as_bytes());
        self.pad();
        Ok(())
    }

    fn char_word(&mut self, b: u8) {
        let w = if self.style.sign_extend {
            b as i8 as i32 as u32
        } else {
            b as u32
        };
        self.enc.u32(w);
    }

    fn short_word(&mut self, v: u16, unsigned: bool) {
        let w = if self.style.sign_extend && !unsigned {
            v as i16 as i32 as u32
        } else {
            v as u32
        };
        self.enc.u32(w);
    }

    /// Writes one list; returns the number of empty xdr_array pairs in it.
    fn list(&mut self, list: &NvList, depth: usize) -> Result<u64> {
        self.enc.check_list(list, depth > 0)?;
        self.enc.u32(list.version as u32);
        self.enc.u32(list.nvflag);
        let mut unique = Unique::new(list.nvflag);
        let mut empties = 0u64;
        for pair in &list.pairs {
            let mark = self.enc.enter(&mut unique, pair)?;
            let start = self.enc.out.len();
            self.enc.u64(0); // sizes, patched below
            self.string(&pair.name)?;
            let e = self.value(&pair.value, depth)?;
            let mut enc = (self.enc.out.len() - start) as u64;
            if self.style.empty_array_quirk {
                enc += 4 * e;
            }
            let dec = decoded_size(&pair.name, &pair.value);
            if enc > i32::MAX as u64 || dec > i32::MAX as u64 {
                return Err(self.enc.refuse("pair larger than 2 GiB"));
            }
            self.enc.out[start..start + 4].copy_from_slice(&(enc as u32).to_be_bytes());
            self.enc.out[start + 4..start + 8].copy_from_slice(&(dec as u32).to_be_bytes());
            empties += e;
            self.enc.leave(mark);
        }
        self.enc.u64(0);
        Ok(empties)
    }

    fn value(&mut self, v: &NvValue, depth: usize) -> Result<u64> {
        let code = v.type_code();
        let n = v.nelem();
        let nelem = i32::try_from(n).map_err(|_| self.enc.refuse("too many elements"))?;
        self.enc.u32(code as u32);
        self.enc.u32(nelem as u32);
        if n == 0 {
            return Ok(u64::from(is_xdr_array(code)));
        }
        if is_xdr_array(code) {
            self.enc.u32(nelem as u32);
        }
        let mut empties = 0;
        match v {
            NvValue::Boolean => {}
            NvValue::BooleanValue(b) => self.enc.u32(*b as u32),
            NvValue::Byte(b) | NvValue::UInt8(b) => self.char_word(*b),
            NvValue::Int8(b) => self.char_word(*b as u8),
            NvValue::Int16(x) => self.short_word(*x as u16, false),
            NvValue::UInt16(x) => self.short_word(*x, true),
            NvValue::Int32(x) => self.enc.u32(*x as u32),
            NvValue::UInt32(x) => self.enc.u32(*x),
            NvValue::Int64(x) | NvValue::HrTime(x) => self.enc.u64(*x as u64),
            NvValue::UInt64(x) => self.enc.u64(*x),
            NvValue::Double(x) => self.enc.u64(x.to_bits()),
            NvValue::String(s) => self.string(s)?,
            NvValue::ByteArray(b) => {
                self.enc.out.extend_from_slice(b);
                self.pad();
            }
            NvValue::BooleanArray(a) => a.iter().for_each(|b| self.enc.u32(*b as u32)),
            NvValue::Int8Array(a) => a.iter().for_each(|b| self.char_word(*b as u8)),
            NvValue::UInt8Array(a) => a.iter().for_each(|b| self.char_word(*b)),
            NvValue::Int16Array(a) => a.iter().for_each(|x| self.short_word(*x as u16, false)),
            NvValue::UInt16Array(a) => a.iter().for_each(|x| self.short_word(*x, true)),
            NvValue::Int32Array(a) => a.iter().for_each(|x| self.enc.u32(*x as u32)),
            NvValue::UInt32Array(a) => a.iter().for_each(|x| self.enc.u32(*x)),
            NvValue::Int64Array(a) => a.iter().for_each(|x| self.enc.u64(*x as u64)),
            NvValue::UInt64Array(a) => a.iter().for_each(|x| self.enc.u64(*x)),
            NvValue::StringArray(a) => {
                for s in a {
                    self.string(s)?;
                }
            }
            NvValue::NvList(l) => empties = self.embedded(l, depth)?,
            NvValue::NvListArray(a) => {
                for (i, l) in a.iter().enumerate() {
                    let mark = self.enc.enter_index(i);
                    empties += self.embedded(l, depth)?;
                    self.enc.leave(mark);
                }
            }
        }
        Ok(empties)
    }

    fn embedded(&mut self, l: &NvList, depth: usize) -> Result<u64> {
        self.enc.deeper(depth)?;
        self.list(l, depth + 1)
    }
}
