//! The native packed nvlist (`NV_ENCODE_NATIVE`): an image of libnvpair's
//! in-memory pairs in the writer's byte order (header byte 1: 1 little-endian,
//! 0 big-endian). ZFS never puts it in a label; it is decoded for
//! completeness (cache files, ioctls, dumps).
//!
//! Layout after the header: int32 version, u32 nvflag, then each pair as its
//! `nvpair_t` image (int32 size, int16 name_sz, int16 reserved, int32 nelem,
//! int32 type, name + NUL, value at the next multiple of 8, padding up to
//! size), then an int32 0. An embedded list's pairs follow the pair that
//! holds it and end in their own int32 0. `formats/nvlist.md` has details.

use super::{
    Encoder, MAX_DEPTH, NV_ENCODE_NATIVE, NV_VERSION, NVLIST_T_SIZE, NVPAIR_T_SIZE, NvList, NvPair,
    NvValue, Packed, Unique, XdrStyle, align8, check_name, decoded_size, path_push, structure,
};
use crate::zfs::ByteOrder;
use crate::{Error, Result};

/// Decodes a native packed nvlist in either byte order. Error offsets are
/// within `buf`.
pub fn decode(buf: &[u8]) -> Result<Packed> {
    let header = super::read_header(buf, NV_ENCODE_NATIVE, "native")?;
    let order = match header[1] {
        0 => ByteOrder::Big,
        1 => ByteOrder::Little,
        b => {
            return Err(Error::corrupt(
                "nvlist header",
                1,
                format!("byte order {b} is neither 0 (big) nor 1 (little)"),
            ));
        }
    };
    let mut r = Reader {
        buf,
        pos: 4,
        order,
        path: String::new(),
    };
    let version = r.i32("list version")?;
    let flag_at = r.pos;
    let nvflag = r.u32("list nvflag")?;
    if nvflag > 3 {
        return Err(r.err(flag_at, format!("nvflag {nvflag:#x} has unknown bits")));
    }
    let list = r.pairs(version, nvflag, 0)?;
    Ok(Packed {
        header,
        list,
        len: r.pos,
        style: XdrStyle::default(),
    })
}

/// Encodes `list` natively in the byte order of `header` byte 1, header kept
/// verbatim (byte 0 must be 0). All padding and pointer slots are zero.
pub fn encode(header: [u8; 4], list: &NvList) -> Result<Vec<u8>> {
    let order = match (header[0], header[1]) {
        (NV_ENCODE_NATIVE, 0) => ByteOrder::Big,
        (NV_ENCODE_NATIVE, 1) => ByteOrder::Little,
        _ => {
            return Err(Error::Refused(format!(
                "cannot encode a native nvlist with header {:02x?}",
                header
            )));
        }
    };
    let mut w = Writer(Encoder::new(header, order));
    w.0.check_list(list, false)?;
    w.0.u32(list.version as u32);
    w.0.u32(list.nvflag);
    w.pairs(list, 0)?;
    w.0.finish()
}

/// A list whose pairs follow later in the stream (NVLIST / NVLIST_ARRAY).
struct Pending {
    version: i32,
    nvflag: u32,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    order: ByteOrder,
    path: String,
}

/// Reads integers in the writer's byte order out of a slice at fixed offsets.
struct Fields<'a> {
    b: &'a [u8],
    order: ByteOrder,
}

impl Fields<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        self.order.u16(self.b, at)
    }
    fn u32(&self, at: usize) -> Option<u32> {
        self.order.u32(self.b, at)
    }
    fn u64(&self, at: usize) -> Option<u64> {
        self.order.u64(self.b, at)
    }
}

impl Reader<'_> {
    fn err(&self, at: usize, detail: impl std::fmt::Display) -> Error {
        Error::corrupt(structure(&self.path), at as u64, detail)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let f = Fields {
            b: self.buf,
            order: self.order,
        };
        match f.u32(self.pos) {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => Err(self.err(self.pos, format!("{what}: 4 bytes needed, stream ends"))),
        }
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(self.u32(what)? as i32)
    }

    /// Pairs up to and including the int32 0 that ends a list.
    fn pairs(&mut self, version: i32, nvflag: u32, depth: usize) -> Result<NvList> {
        let mut pairs = Vec::new();
        let mut unique = Unique::new(nvflag);
        loop {
            let pair_at = self.pos;
            let size = self.i32("pair size")?;
            if size == 0 {
                break;
            }
            let rem = self.buf.len() - pair_at;
            let size = match usize::try_from(size) {
                Ok(s) if s >= 24 && s <= rem => s,
                _ => {
                    return Err(self.err(
                        pair_at,
                        format!("pair size {size} outside 24..={rem} (bytes left)"),
                    ));
                }
            };
            let pb = &self.buf[pair_at..pair_at + size];
            self.pos = pair_at + size;
            let (pair, pending) = self.pair(pb, pair_at)?;
            let mark = self.path.len();
            path_push(&mut self.path, &pair.name);
            if !unique.insert(&pair.name, pair.value.type_code()) {
                return Err(self.err(pair_at, "duplicate pair name"));
            }
            let mut pair = pair;
            match &mut pair.value {
                NvValue::NvList(l) => {
                    let p = &pending[0];
                    *l = self.embedded(p, depth)?;
                }
                NvValue::NvListArray(a) => {
                    for (i, p) in pending.iter().enumerate() {
                        let m = self.path.len();
                        self.path.push_str(&format!("[{i}]"));
                        a.push(self.embedded(p, depth)?);
                        self.path.truncate(m);
                    }
                }
                _ => {}
            }
            self.path.truncate(mark);
            pairs.push(pair);
        }
        Ok(NvList {
            version,
            nvflag,
            pairs,
        })
    }

    fn embedded(&mut self, p: &Pending, depth: usize) -> Result<NvList> {
        if depth + 1 > MAX_DEPTH {
            return Err(self.err(
                self.pos,
                format!("lists nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.pairs(p.version, p.nvflag, depth + 1)
    }

    /// Decodes one pair image `pb` found at `at`. Lists come back empty,
    /// with the headers of the lists whose pairs follow in the stream.
    fn pair(&self, pb: &[u8], at: usize) -> Result<(NvPair, Vec<Pending>)> {
        let f = Fields {
            b: pb,
            order: self.order,
        };
        let nelem = f.u32(8).unwrap_or(0) as i32;
        let code = f.u32(12).unwrap_or(0) as i32;
        let (name, name_sz) = self.pair_name(&f, at)?;
        let path = {
            let mut p = self.path.clone();
            path_push(&mut p, &name);
            p
        };
        let e = |off: usize, d: String| Error::corrupt(structure(&path), (at + off) as u64, d);
        let n = match usize::try_from(nelem) {
            Ok(n) => n,
            Err(_) => return Err(e(8, format!("negative nelem {nelem}"))),
        };
        check_nelem(code, n, &e)?;
        let valoff = align8(NVPAIR_T_SIZE + name_sz as u64) as usize;
        let vf = Fields {
            b: pb.get(valoff..).unwrap_or(&[]),
            order: self.order,
        };
        let mut pending = Vec::new();
        let value = value(code, n, &vf, &e, valoff, &mut pending)?;
        // The size field must be exactly what the value implies. For lists
        // the value is a placeholder here, but only its element count and
        // the fixed nvlist_t size enter the formula.
        let sized = match (&value, pending.len()) {
            (NvValue::NvListArray(_), k) => NvValue::NvListArray(vec![NvList::new(); k]),
            (v, _) => v.clone(),
        };
        let want = decoded_size(&name, &sized);
        if want != pb.len() as u64 {
            return Err(e(0, format!("pair size {}, expected {want}", pb.len())));
        }
        Ok((NvPair { name, value }, pending))
    }

    /// The name of the pair image in `f` (found at `at`) and its stored
    /// size, NUL included.
    fn pair_name(&self, f: &Fields<'_>, at: usize) -> Result<(String, usize)> {
        let e = |off: usize, d: String| self.err(at + off, d);
        let name_sz = f.u16(4).unwrap_or(0) as i16;
        let name_sz = match usize::try_from(name_sz) {
            Ok(n) if n >= 1 && (NVPAIR_T_SIZE as usize + n) <= f.b.len() => n,
            _ => return Err(e(4, format!("name size {name_sz} does not fit the pair"))),
        };
        let raw = &f.b[16..16 + name_sz];
        if raw[name_sz - 1] != 0 {
            return Err(e(16, "pair name is not NUL-terminated".into()));
        }
        let raw = &raw[..name_sz - 1];
        if let Some(why) = check_name(raw) {
            return Err(e(16, why));
        }
        let name = String::from_utf8(raw.to_vec())
            .map_err(|_| e(16, "pair name is not valid UTF-8".into()))?;
        Ok((name, name_sz))
    }
}

/// Checks `nelem` against what data type `code` allows (1 for scalars, 0
/// for a flag, any for arrays).
fn check_nelem(code: i32, n: usize, e: &impl Fn(usize, String) -> Error) -> Result<()> {
    let want_n = match code {
        1 => Some(0),
        2..=9 | 18 | 19 | 21..=23 | 27 => Some(1),
        10..=17 | 20 | 24..=26 => None,
        _ => return Err(e(12, format!("unknown data type {code}"))),
    };
    if let Some(w) = want_n
        && n != w
    {
        return Err(e(
            8,
            format!("{} needs nelem {w}, found {n}", super::type_name(code)),
        ));
    }
    Ok(())
}

/// The value of data type `code` with `n` elements in `vf` (which starts
/// at byte `valoff` of the pair). Embedded lists come back empty and their
/// headers go to `pending`.
fn value(
    code: i32,
    n: usize,
    vf: &Fields<'_>,
    e: &impl Fn(usize, String) -> Error,
    valoff: usize,
    pending: &mut Vec<Pending>,
) -> Result<NvValue> {
    let val = vf.b;
    let short = || e(valoff, "value runs past the pair's size".into());
    // Fixed-size element arrays: check the whole array fits first.
    let need = |el: usize| -> Result<()> {
        if n.checked_mul(el).is_none_or(|t| t > val.len()) {
            return Err(short());
        }
        Ok(())
    };
    let bool_of = |w: u32, off: usize| -> Result<bool> {
        match w {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(e(off, format!("boolean is {w}, not 0 or 1"))),
        }
    };
    let ints16 = |i: usize| vf.u16(2 * i);
    let ints32 = |i: usize| vf.u32(4 * i);
    let ints64 = |i: usize| vf.u64(8 * i);
    Ok(match code {
        1 => NvValue::Boolean,
        2 => NvValue::Byte(*val.first().ok_or_else(short)?),
        3 => NvValue::Int16(vf.u16(0).ok_or_else(short)? as i16),
        4 => NvValue::UInt16(vf.u16(0).ok_or_else(short)?),
        5 => NvValue::Int32(vf.u32(0).ok_or_else(short)? as i32),
        6 => NvValue::UInt32(vf.u32(0).ok_or_else(short)?),
        7 => NvValue::Int64(vf.u64(0).ok_or_else(short)? as i64),
        8 => NvValue::UInt64(vf.u64(0).ok_or_else(short)?),
        9 => NvValue::String(cstr(val, 0, e, valoff)?.0),
        10 => {
            need(1)?;
            NvValue::ByteArray(val[..n].to_vec())
        }
        11 => {
            need(2)?;
            NvValue::Int16Array((0..n).filter_map(|i| ints16(i).map(|v| v as i16)).collect())
        }
        12 => {
            need(2)?;
            NvValue::UInt16Array((0..n).filter_map(ints16).collect())
        }
        13 => {
            need(4)?;
            NvValue::Int32Array((0..n).filter_map(|i| ints32(i).map(|v| v as i32)).collect())
        }
        14 => {
            need(4)?;
            NvValue::UInt32Array((0..n).filter_map(ints32).collect())
        }
        15 => {
            need(8)?;
            NvValue::Int64Array((0..n).filter_map(|i| ints64(i).map(|v| v as i64)).collect())
        }
        16 => {
            need(8)?;
            NvValue::UInt64Array((0..n).filter_map(ints64).collect())
        }
        17 => {
            // n pointer slots (ignored), then n NUL-terminated strings.
            need(9)?;
            let mut off = 8 * n;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let (s, next) = cstr(val, off, e, valoff)?;
                v.push(s);
                off = next;
            }
            NvValue::StringArray(v)
        }
        18 => NvValue::HrTime(vf.u64(0).ok_or_else(short)? as i64),
        19 => {
            pending.push(nvlist_image(vf, 0, e, valoff)?);
            NvValue::NvList(NvList::new())
        }
        20 => {
            need(8 + NVLIST_T_SIZE as usize)?;
            for i in 0..n {
                let off = 8 * n + NVLIST_T_SIZE as usize * i;
                pending.push(nvlist_image(vf, off, e, valoff)?);
            }
            NvValue::NvListArray(Vec::with_capacity(n))
        }
        21 => NvValue::BooleanValue(bool_of(vf.u32(0).ok_or_else(short)?, valoff)?),
        22 => NvValue::Int8(*val.first().ok_or_else(short)? as i8),
        23 => NvValue::UInt8(*val.first().ok_or_else(short)?),
        24 => {
            need(4)?;
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                v.push(bool_of(vf.u32(4 * i).unwrap_or(2), valoff + 4 * i)?);
            }
            NvValue::BooleanArray(v)
        }
        25 => {
            need(1)?;
            NvValue::Int8Array(val[..n].iter().map(|b| *b as i8).collect())
        }
        26 => {
            need(1)?;
            NvValue::UInt8Array(val[..n].to_vec())
        }
        _ => NvValue::Double(f64::from_bits(vf.u64(0).ok_or_else(short)?)),
    })
}

/// A NUL-terminated string in `val` at `off`; returns it and the offset after
/// its NUL.
fn cstr(
    val: &[u8],
    off: usize,
    e: &impl Fn(usize, String) -> Error,
    base: usize,
) -> Result<(String, usize)> {
    let rest = val.get(off..).unwrap_or(&[]);
    let len = rest.iter().position(|&b| b == 0).ok_or_else(|| {
        e(
            base + off,
            "string is not NUL-terminated within the pair".into(),
        )
    })?;
    let s = String::from_utf8(rest[..len].to_vec())
        .map_err(|_| e(base + off, "string is not valid UTF-8".into()))?;
    Ok((s, off + len + 1))
}

/// The 24-byte `nvlist_t` image at `off`: version (must be 0) and nvflag.
fn nvlist_image(
    vf: &Fields<'_>,
    off: usize,
    e: &impl Fn(usize, String) -> Error,
    base: usize,
) -> Result<Pending> {
    let (Some(version), Some(nvflag)) = (vf.u32(off), vf.u32(off + 4)) else {
        return Err(e(base + off, "nvlist_t image runs past the pair".into()));
    };
    if vf.b.len() < off + NVLIST_T_SIZE as usize {
        return Err(e(base + off, "nvlist_t image runs past the pair".into()));
    }
    let version = version as i32;
    if version != NV_VERSION {
        return Err(e(
            base + off,
            format!("embedded list version is {version}, not {NV_VERSION}"),
        ));
    }
    if nvflag > 3 {
        return Err(e(
            base + off + 4,
            format!("nvflag {nvflag:#x} has unknown bits"),
        ));
    }
    Ok(Pending { version, nvflag })
}

/// The native writer: the shared [`Encoder`] in the header's byte order.
struct Writer(Encoder);

impl Writer {
    fn cstr(&mut self, s: &str) -> Result<()> {
        if s.as_bytes().contains(&0) {
            return Err(self.0.refuse("NUL byte inside a string"));
        }
        self.0.out.extend_from_slice(s.as_bytes());
        self.0.out.push(0);
        Ok(())
    }

    /// The 24-byte `nvlist_t` image of an embedded list.
    fn image(&mut self, l: &NvList) -> Result<()> {
        self.0.check_list(l, true)?;
        self.0.u32(l.version as u32);
        self.0.u32(l.nvflag);
        self.0.u64(0); // nvl_priv
        self.0.u32(0); // nvl_flag
        self.0.u32(0); // nvl_pad
        Ok(())
    }

    /// Pairs of `list` and their embedded lists, then the int32 0.
    fn pairs(&mut self, list: &NvList, depth: usize) -> Result<()> {
        let mut unique = Unique::new(list.nvflag);
        for pair in &list.pairs {
            let mark = self.0.enter(&mut unique, pair)?;
            self.pair(pair)?;
            match &pair.value {
                NvValue::NvList(l) => self.embedded(l, depth)?,
                NvValue::NvListArray(a) => {
                    for (i, l) in a.iter().enumerate() {
                        let m = self.0.enter_index(i);
                        self.embedded(l, depth)?;
                        self.0.leave(m);
                    }
                }
                _ => {}
            }
            self.0.leave(mark);
        }
        self.0.u32(0);
        Ok(())
    }

    /// One `nvpair_t` image: header, name, value, padding to its size.
    fn pair(&mut self, pair: &NvPair) -> Result<()> {
        let size = decoded_size(&pair.name, &pair.value);
        let nelem = i32::try_from(pair.value.nelem());
        let (Ok(size32), Ok(nelem)) = (i32::try_from(size), nelem) else {
            return Err(self.0.refuse("pair larger than 2 GiB"));
        };
        let start = self.0.out.len();
        self.0.u32(size32 as u32);
        self.0.u16((pair.name.len() + 1) as u16);
        self.0.u16(0);
        self.0.u32(nelem as u32);
        self.0.u32(pair.value.type_code() as u32);
        self.cstr(&pair.name)?;
        self.0
            .zero_to(start + align8(NVPAIR_T_SIZE + pair.name.len() as u64 + 1) as usize);
        self.value(&pair.value)?;
        self.0.zero_to(start + size as usize);
        Ok(())
    }

    /// A value as libnvpair lays it out in memory.
    fn value(&mut self, value: &NvValue) -> Result<()> {
        let w = &mut self.0;
        match value {
            NvValue::Boolean => {}
            NvValue::BooleanValue(b) => w.u32(*b as u32),
            NvValue::Byte(b) | NvValue::UInt8(b) => w.out.push(*b),
            NvValue::Int8(b) => w.out.push(*b as u8),
            NvValue::Int16(x) => w.u16(*x as u16),
            NvValue::UInt16(x) => w.u16(*x),
            NvValue::Int32(x) => w.u32(*x as u32),
            NvValue::UInt32(x) => w.u32(*x),
            NvValue::Int64(x) | NvValue::HrTime(x) => w.u64(*x as u64),
            NvValue::UInt64(x) => w.u64(*x),
            NvValue::Double(x) => w.u64(x.to_bits()),
            NvValue::String(s) => self.cstr(s)?,
            NvValue::ByteArray(b) | NvValue::UInt8Array(b) => w.out.extend_from_slice(b),
            NvValue::Int8Array(a) => w.out.extend(a.iter().map(|b| *b as u8)),
            NvValue::BooleanArray(a) => a.iter().for_each(|b| w.u32(*b as u32)),
            NvValue::Int16Array(a) => a.iter().for_each(|x| w.u16(*x as u16)),
            NvValue::UInt16Array(a) => a.iter().for_each(|x| w.u16(*x)),
            NvValue::Int32Array(a) => a.iter().for_each(|x| w.u32(*x as u32)),
            NvValue::UInt32Array(a) => a.iter().for_each(|x| w.u32(*x)),
            NvValue::Int64Array(a) => a.iter().for_each(|x| w.u64(*x as u64)),
            NvValue::UInt64Array(a) => a.iter().for_each(|x| w.u64(*x)),
            NvValue::StringArray(a) => {
                a.iter().for_each(|_| w.u64(0));
                for s in a {
                    self.cstr(s)?;
                }
            }
            NvValue::NvList(l) => self.image(l)?,
            NvValue::NvListArray(a) => {
                a.iter().for_each(|_| w.u64(0));
                for l in a {
                    self.image(l)?;
                }
            }
        }
        Ok(())
    }

    fn embedded(&mut self, l: &NvList, depth: usize) -> Result<()> {
        self.0.deeper(depth)?;
        self.pairs(l, depth + 1)
    }
}
