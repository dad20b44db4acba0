//! The JSON spelling of kzrescue's documents, and text safe on a terminal.
//!
//! Every `--json` document is written by [`JsonFormatter`]: pretty-printed,
//! integers as decimal strings unless asked to keep numbers (as OpenZFS
//! 2.3's `-j` does: a guid, txg, size or nanosecond time can exceed 2^53,
//! which many JSON readers round), and DEL and the C1 controls as `\u00NN`.
//! [`escape`] makes the control characters in a line of text visible: names
//! read from a disk are chosen by whoever wrote the disk.

use crate::error::{Error, Result};
use std::borrow::Cow;

/// `s` with control characters other than `\n` and `\t` made visible: C0
/// controls shown as `\xNN`, the way `ls -b` shows them, and DEL and C1
/// controls as `\u00NN` (the JSON spelling: serde_json escapes C0 itself
/// but not these, so JSON escaped this way stays valid). A newline inside a
/// disk string is not escaped (text output is line-oriented; `--json`
/// tells them apart).
pub fn escape(s: &str) -> Cow<'_, str> {
    let bad = |c: char| (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}';
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !bad(c) {
            out.push(c);
        } else if (c as u32) < 0x20 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            // DEL and C1: the JSON spelling, so JSON output stays valid
            // (serde_json leaves these unescaped) and means the same
            out.push_str(&format!("\\u{:04x}", c as u32));
        }
    }
    Cow::Owned(out)
}

/// Serializes `doc` to `w` with [`JsonFormatter`] (`ints_as_strings`
/// quotes every integer).
pub fn to_writer<W: std::io::Write>(
    w: W,
    doc: &impl serde::Serialize,
    ints_as_strings: bool,
) -> Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(w, JsonFormatter::new(ints_as_strings));
    doc.serialize(&mut ser).map_err(|e| {
        if e.is_io() {
            Error::io("write stdout", std::io::Error::other(e.to_string()))
        } else {
            Error::Usage(format!("JSON output: {e}"))
        }
    })
}

/// serde_json's pretty printer that writes integers as decimal strings
/// (unless told to keep numbers) and DEL and the C1 controls as `\u00NN`
/// (serde_json escapes only C0), as the rest of the CLI's output does: a
/// document about a hostile disk holds names an intruder chose.
pub struct JsonFormatter {
    pretty: serde_json::ser::PrettyFormatter<'static>,
    ints_as_strings: bool,
    /// Inside a string (an integer map key is written between
    /// `begin_string` and `end_string`: already quoted).
    in_string: bool,
}

impl JsonFormatter {
    /// A formatter; `ints_as_strings` quotes every integer.
    pub fn new(ints_as_strings: bool) -> Self {
        JsonFormatter {
            pretty: serde_json::ser::PrettyFormatter::new(),
            ints_as_strings,
            in_string: false,
        }
    }

    fn int<W: ?Sized + std::io::Write>(&mut self, w: &mut W, digits: &str) -> std::io::Result<()> {
        if self.ints_as_strings && !self.in_string {
            w.write_all(b"\"")?;
            w.write_all(digits.as_bytes())?;
            w.write_all(b"\"")
        } else {
            w.write_all(digits.as_bytes())
        }
    }
}

macro_rules! int_writers {
    ($($name:ident: $t:ty),*) => {$(
        fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: $t) -> std::io::Result<()> {
            self.int(w, &v.to_string())
        }
    )*};
}

macro_rules! delegate {
    ($($name:ident($($a:ident: $t:ty),*)),*) => {$(
        fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W $(, $a: $t)*) -> std::io::Result<()> {
            self.pretty.$name(w $(, $a)*)
        }
    )*};
}

impl serde_json::ser::Formatter for JsonFormatter {
    int_writers!(write_i8: i8, write_i16: i16, write_i32: i32, write_i64: i64, write_i128: i128,
        write_u8: u8, write_u16: u16, write_u32: u32, write_u64: u64, write_u128: u128);
    delegate!(begin_array(), end_array(), begin_array_value(first: bool), end_array_value(),
        begin_object(), end_object(), begin_object_key(first: bool), begin_object_value(),
        end_object_value());
    fn begin_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.in_string = true;
        w.write_all(b"\"")
    }
    fn end_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.in_string = false;
        w.write_all(b"\"")
    }
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        w.write_all(escape(fragment).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::JsonFormatter;
    use super::escape;

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert_eq!(escape("rpool\n\tok"), "rpool\n\tok");
        assert_eq!(escape("evil\u{1b}[2Jpool"), "evil\\x1b[2Jpool");
        assert_eq!(escape("a\u{7f}b\u{9b}c\u{0}"), "a\\u007fb\\u009bc\\x00");
        assert_eq!(escape("naïve ✓"), "naïve ✓");
    }

    #[test]
    fn streamed_documents_quote_integers_but_not_keys() {
        #[derive(serde::Serialize)]
        struct D {
            guid: u64,
            t: i64,
            f: f64,
            m: std::collections::BTreeMap<u32, u8>,
            s: &'static str,
        }
        let d = D {
            guid: 6622861629752014398,
            t: -5,
            f: 0.5,
            m: [(7, 9)].into_iter().collect(),
            s: "a\u{9b}",
        };
        let text = |ints| {
            let mut out = Vec::new();
            let mut ser =
                serde_json::Serializer::with_formatter(&mut out, JsonFormatter::new(ints));
            serde::Serialize::serialize(&d, &mut ser).unwrap();
            String::from_utf8(out).unwrap()
        };
        let v: serde_json::Value = serde_json::from_str(&text(true)).unwrap();
        assert_eq!(v["guid"], "6622861629752014398");
        assert_eq!(v["t"], "-5");
        assert_eq!(v["f"], 0.5);
        assert_eq!(v["m"]["7"], "9");
        assert_eq!(v["s"], "a\u{9b}");
        let v: serde_json::Value = serde_json::from_str(&text(false)).unwrap();
        assert_eq!(v["guid"], 6622861629752014398u64);
        assert_eq!(v["m"]["7"], 9);
    }
}
