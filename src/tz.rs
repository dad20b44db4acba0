//! Local time for an examiner's listing: a time zone read from a TZif file
//! (RFC 8536, the `/etc/localtime` and `/usr/share/zoneinfo` format) or a
//! fixed-offset POSIX `TZ` string such as `UTC-5:30`.
//!
//! A TZif file's transition table gives the offset of every time it
//! covers (Debian's files list transitions up to 2037). After its last
//! transition the footer's POSIX string applies when it is a fixed offset;
//! a footer with daylight-saving rules is not evaluated, and the last
//! transition's offset is used. Nothing here reads the environment or a
//! file: the caller hands over the bytes or the string.

use crate::error::{Error, Result};

/// A time zone: offsets from UTC, in seconds east, by time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Transition times (seconds since 1970) and the offset from each on,
    /// ascending.
    transitions: Vec<(i64, i32)>,
    /// The offset before the first transition.
    initial: i32,
    /// The offset after the last transition, when the footer fixes it.
    after: Option<i32>,
}

impl Zone {
    /// Coordinated Universal Time.
    pub fn utc() -> Zone {
        Zone::fixed(0)
    }

    /// A zone `east` seconds ahead of UTC all the time.
    pub fn fixed(east: i32) -> Zone {
        Zone {
            transitions: Vec::new(),
            initial: east,
            after: None,
        }
    }

    /// The offset from UTC (seconds east) at time `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        let i = self.transitions.partition_point(|(at, _)| *at <= t);
        match i {
            0 => self.initial,
            i if i == self.transitions.len() => self.after.unwrap_or(self.transitions[i - 1].1),
            i => self.transitions[i - 1].1,
        }
    }

    /// Parses a POSIX `TZ` string that names a fixed offset: a standard
    /// name (three or more letters, or `<…>` quoted) and an offset west of
    /// UTC, `[+-]hh[:mm[:ss]]` (`UTC-5:30` is 5 h 30 min east). A string
    /// with a daylight-saving part is refused (kind `Unsupported`).
    pub fn from_posix(s: &str) -> Result<Zone> {
        let bad = |why: &str| Error::Usage(format!("TZ={s}: {why}"));
        let rest = match s.strip_prefix('<') {
            Some(q) => q
                .split_once('>')
                .map(|(_, r)| r)
                .ok_or_else(|| bad("unclosed <"))?,
            None => {
                let n = s
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .unwrap_or(s.len());
                if n < 3 {
                    return Err(bad("a zone name of three or more letters is needed"));
                }
                &s[n..]
            }
        };
        let (west, tail) = posix_offset(rest).ok_or_else(|| bad("no offset after the name"))?;
        if !tail.is_empty() {
            return Err(Error::unsupported(
                "TZ string",
                format!(
                    "{s}: daylight-saving rules are not supported; give a zone name \
                     (TZ=Europe/Berlin) or a fixed offset (TZ=UTC-5:30)"
                ),
            ));
        }
        Ok(Zone::fixed(-west))
    }

    /// Decodes a TZif file (versions 1 to 4; the 64-bit table of version
    /// 2 and later is used when present).
    pub fn from_tzif(b: &[u8]) -> Result<Zone> {
        let (v1, counts) = header(b, 0)?;
        let v1_len = body_len(&counts, 4);
        if v1 == 0 {
            return table(b, 44, &counts, 4, None);
        }
        let second = 44 + v1_len;
        let (_, counts2) = header(b, second)?;
        let body = second + 44;
        let footer_at = body + body_len(&counts2, 8);
        let footer = b
            .get(footer_at..)
            .and_then(|f| f.strip_prefix(b"\n"))
            .and_then(|f| f.split(|&c| c == b'\n').next())
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(|f| Zone::from_posix(f).ok())
            .map(|z| z.initial);
        table(b, body, &counts2, 8, footer)
    }
}

/// `[+-]hh[:mm[:ss]]` at the start of `s`: seconds, and what follows.
fn posix_offset(s: &str) -> Option<(i32, &str)> {
    let (sign, s) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let mut total = 0i32;
    let mut rest = s;
    for (i, scale) in [3600, 60, 1].into_iter().enumerate() {
        if i > 0 {
            match rest.strip_prefix(':') {
                Some(r) => rest = r,
                None => break,
            }
        }
        let n = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if n == 0 || n > 3 {
            return None;
        }
        total += rest[..n].parse::<i32>().ok()? * scale;
        rest = &rest[n..];
    }
    Some((sign * total, rest))
}

/// The six counts of a TZif header at `at`: isutcnt, isstdcnt, leapcnt,
/// timecnt, typecnt, charcnt; and the version byte (0, or an ASCII digit).
fn header(b: &[u8], at: usize) -> Result<(u8, [usize; 6])> {
    let h = b
        .get(at..at + 44)
        .ok_or_else(|| Error::corrupt("TZif header", at as u64, "the file ends inside it"))?;
    if &h[..4] != b"TZif" {
        return Err(Error::corrupt("TZif header", at as u64, "no TZif magic"));
    }
    let mut counts = [0usize; 6];
    for (i, c) in counts.iter_mut().enumerate() {
        let o = 20 + 4 * i;
        *c = u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]) as usize;
    }
    Ok((h[4], counts))
}

/// Bytes of a TZif data block with `time` -byte times.
fn body_len(c: &[usize; 6], time: usize) -> usize {
    let [isut, isstd, leap, timecnt, typecnt, charcnt] = *c;
    timecnt * (time + 1) + typecnt * 6 + charcnt + leap * (time + 4) + isstd + isut
}

/// The transition table of the data block at `at`.
fn table(b: &[u8], at: usize, c: &[usize; 6], time: usize, after: Option<i32>) -> Result<Zone> {
    let [_, _, _, timecnt, typecnt, _] = *c;
    let need = at + body_len(c, time);
    if b.len() < need || typecnt == 0 {
        return Err(Error::corrupt(
            "TZif data block",
            at as u64,
            format!(
                "{typecnt} local time types and a block ending at byte {need} of {}",
                b.len()
            ),
        ));
    }
    let types_at = at + timecnt * (time + 1);
    let utoff = |i: usize| -> Result<i32> {
        if i >= typecnt {
            return Err(Error::corrupt(
                "TZif transition types",
                (at + timecnt * time) as u64,
                format!("type {i} of {typecnt}"),
            ));
        }
        let o = types_at + 6 * i;
        Ok(i32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]))
    };
    let mut transitions = Vec::with_capacity(timecnt);
    for i in 0..timecnt {
        let o = at + i * time;
        let t = if time == 8 {
            i64::from_be_bytes(b[o..o + 8].try_into().expect("8 bytes"))
        } else {
            i32::from_be_bytes(b[o..o + 4].try_into().expect("4 bytes")) as i64
        };
        transitions.push((t, utoff(b[at + timecnt * time + i] as usize)?));
    }
    Ok(Zone {
        transitions,
        initial: utoff(0)?,
        after,
    })
}

/// `ls -l --time-style=full-iso` in `zone`:
/// `2024-05-01 18:04:56.123456789 +0530`.
pub fn full_iso(secs: i64, nsec: u64, zone: &Zone) -> String {
    let (civil, off) = local(secs, zone);
    format!("{}.{:09} {off}", civil.iso(), nsec.min(999_999_999))
}

/// The civil time of `secs` in `zone`, and its offset as `+hhmm`.
pub fn local(secs: i64, zone: &Zone) -> (crate::time::Civil, String) {
    let east = zone.offset_at(secs);
    let a = east.unsigned_abs();
    let off = format!(
        "{}{:02}{:02}",
        if east < 0 { '-' } else { '+' },
        a / 3600,
        a % 3600 / 60
    );
    let civil = crate::time::Civil::from_unix(secs.saturating_add(east as i64));
    (civil, off)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_fixed_offsets() {
        assert_eq!(Zone::from_posix("UTC-5:30").unwrap(), Zone::fixed(19800));
        assert_eq!(Zone::from_posix("EST5").unwrap(), Zone::fixed(-18000));
        assert_eq!(
            Zone::from_posix("<+0545>-5:45").unwrap(),
            Zone::fixed(20700)
        );
        assert_eq!(Zone::from_posix("UTC0").unwrap(), Zone::utc());
        let dst = Zone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap_err();
        assert_eq!(dst.kind(), crate::ErrorKind::Unsupported);
        assert_eq!(
            Zone::from_posix("X5").unwrap_err().kind(),
            crate::ErrorKind::Usage
        );
    }

    #[test]
    fn renders_offsets() {
        let ist = Zone::fixed(19800);
        assert_eq!(
            full_iso(1_714_566_896, 123_456_789, &ist),
            "2024-05-01 18:04:56.123456789 +0530"
        );
        assert_eq!(
            full_iso(0, 0, &Zone::fixed(-18000)),
            "1969-12-31 19:00:00.000000000 -0500"
        );
    }

    /// A version-2 TZif file: types +1 h and +2 h, one transition to +2 h
    /// at t = 1000, footer as given.
    fn tzif(footer: &str) -> Vec<u8> {
        let mut b = Vec::new();
        let head = |b: &mut Vec<u8>| {
            b.extend_from_slice(b"TZif2");
            b.extend_from_slice(&[0; 15]);
            for c in [0u32, 0, 0, 1, 2, 4] {
                b.extend_from_slice(&c.to_be_bytes());
            }
        };
        head(&mut b);
        b.extend_from_slice(&1000i32.to_be_bytes());
        b.push(1);
        for off in [3600i32, 7200] {
            b.extend_from_slice(&off.to_be_bytes());
            b.extend_from_slice(&[0, 0]);
        }
        b.extend_from_slice(b"AB\0\0");
        head(&mut b);
        b.extend_from_slice(&1000i64.to_be_bytes());
        b.push(1);
        for off in [3600i32, 7200] {
            b.extend_from_slice(&off.to_be_bytes());
            b.extend_from_slice(&[0, 0]);
        }
        b.extend_from_slice(b"AB\0\0");
        b.extend_from_slice(format!("\n{footer}\n").as_bytes());
        b
    }

    #[test]
    fn tzif_transitions_and_footer() {
        let z = Zone::from_tzif(&tzif("XYZ-3")).unwrap();
        assert_eq!((z.offset_at(999), z.offset_at(1000)), (3600, 10800));
        let z = Zone::from_tzif(&tzif("CET-1CEST,M3.5.0,M10.5.0/3")).unwrap();
        assert_eq!(z.offset_at(5000), 7200);
        let mut bad = tzif("UTC0");
        bad[44 + 4] = 9; // transition type 9 of 2
        assert_eq!(
            Zone::from_tzif(&bad[..44 + 21]).unwrap_err().kind(),
            crate::ErrorKind::Corrupt
        );
        assert_eq!(
            Zone::from_tzif(b"TZ").unwrap_err().kind(),
            crate::ErrorKind::Corrupt
        );
    }
}
