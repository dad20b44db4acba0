//! Text output that an intruder cannot use against the terminal.
//!
//! Pool names, host names, paths, file names and error messages printed by
//! the CLI come from the disk, and a crafted disk can put terminal control
//! sequences in them (clear the screen, rewrite earlier lines, set the
//! window title). Every `print!`/`println!`/`eprintln!` below `src/cli/`
//! goes through [`escape`] (the macros in `cli/mod.rs` shadow the standard
//! ones): C0 control characters other than newline and tab are shown as
//! `\xNN`, the way `ls -b` shows them, and DEL and C1 controls as `\u00NN`
//! (the JSON spelling: serde_json escapes C0 itself but not these, so JSON
//! printed this way stays valid). `cat` and `export --tar -` write file
//! bytes unchanged, as asked. A newline inside a disk string is not
//! escaped (text output is line-oriented; use `--json` to tell them apart).

use std::borrow::Cow;

/// `s` with control characters other than `\n` and `\t` made visible.
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

/// A `--json` document as every command prints it: the value with its
/// `schema` key (`kzrescue.<command>/<version>`), integers as decimal
/// strings unless `--json-int` (as OpenZFS 2.3's `-j` does: a guid, txg,
/// size or nanosecond time can exceed 2^53, which many JSON readers round),
/// pretty-printed. Floats, booleans and strings are kept.
pub fn json_doc(schema: &str, doc: &impl serde::Serialize) -> kzrescue::Result<String> {
    let mut v = serde_json::to_value(doc)
        .map_err(|e| kzrescue::Error::Usage(format!("JSON output: {e}")))?;
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("schema".into(), schema.into());
    }
    if !super::context::get().json_int() {
        stringify_integers(&mut v);
    }
    serde_json::to_string_pretty(&v)
        .map_err(|e| kzrescue::Error::Usage(format!("JSON output: {e}")))
}

/// Prints [`json_doc`] on stdout (escaped like all text output).
pub fn print_json(schema: &str, doc: &impl serde::Serialize) -> kzrescue::Result<()> {
    let s = json_doc(schema, doc)?;
    ::std::println!("{}", escape(&s));
    Ok(())
}

/// Replaces every integer in `v` by its decimal string.
pub fn stringify_integers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => *v = Value::String(n.to_string()),
        Value::Array(a) => a.iter_mut().for_each(stringify_integers),
        Value::Object(m) => m.values_mut().for_each(stringify_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert_eq!(escape("rpool\n\tok"), "rpool\n\tok");
        assert_eq!(escape("evil\u{1b}[2Jpool"), "evil\\x1b[2Jpool");
        assert_eq!(escape("a\u{7f}b\u{9b}c\u{0}"), "a\\u007fb\\u009bc\\x00");
        assert_eq!(escape("naïve ✓"), "naïve ✓");
    }

    #[test]
    fn integers_become_strings_and_keep_every_digit() {
        let mut v =
            serde_json::json!({"guid": 6622861629752014398u64, "n": [1, -2], "f": 0.5, "b": true});
        super::stringify_integers(&mut v);
        assert_eq!(v["guid"], "6622861629752014398");
        assert_eq!(v["n"][1], "-2");
        assert_eq!(v["f"], 0.5);
        assert_eq!(v["b"], true);
    }
}
