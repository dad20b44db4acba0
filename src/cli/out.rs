//! Text output that an intruder cannot use against the terminal.
//!
//! Pool names, host names, paths, file names and error messages printed by
//! the CLI come from the disk, and a crafted disk can put terminal control
//! sequences in them (clear the screen, rewrite earlier lines, set the
//! window title). Every `print!`/`println!`/`eprintln!` below `src/cli/`
//! goes through [`escape`] (the macros in `cli/mod.rs` shadow the standard
//! ones); `cat` and `export --tar -` write file bytes unchanged, as asked.

pub use kzrescue::json::escape;

/// Writes text whose every line ends in a newline to stdout, escaped; a
/// closed pipe (`| head`) is an I/O error, not a panic.
pub fn print_text(text: &str) -> kzrescue::Result<()> {
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_all(escape(text).as_bytes())
        .map_err(|e| kzrescue::Error::io("write stdout", e))
}

/// Prints a `--json` document as every command prints it: the value with its
/// `schema` key (`kzrescue.<command>/<version>`) first, integers as decimal
/// strings unless `--json-int` (as OpenZFS 2.3's `-j` does: a guid, txg,
/// size or nanosecond time can exceed 2^53, which many JSON readers round),
/// pretty-printed, fields in the order the document declares them. Floats,
/// booleans and strings are kept. `doc` serializes as a JSON object.
/// Escaped like all text output.
pub fn print_json(schema: &str, doc: &impl serde::Serialize) -> kzrescue::Result<()> {
    stream_json(&WithSchema { schema, doc })
}

/// Prints a command's result: with `--json` (`json`) the document `doc`
/// under `schema` as [`print_json`] does, else the text `text()` as it is.
pub fn print(
    json: bool,
    schema: &str,
    doc: &impl serde::Serialize,
    text: impl FnOnce() -> String,
) -> kzrescue::Result<()> {
    print_own(json, &WithSchema { schema, doc }, text)
}

/// [`print`] for a document that carries its own `schema` key.
pub fn print_own(
    json: bool,
    doc: &impl serde::Serialize,
    text: impl FnOnce() -> String,
) -> kzrescue::Result<()> {
    if json {
        stream_json(doc)
    } else {
        print!("{}", text());
        Ok(())
    }
}

/// Streams a document that carries its own `schema` key to stdout as
/// [`print_json`] prints (integers as strings unless `--json-int`, control
/// characters escaped), without building it in memory first: a manifest of
/// millions of paths is written as it is read.
pub fn stream_json(doc: &impl serde::Serialize) -> kzrescue::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    write_json(&mut out, doc)?;
    writeln!(out)
        .and_then(|_| out.flush())
        .map_err(|e| kzrescue::Error::io("write stdout", e))
}

/// Serializes `doc` to `w` as [`kzrescue::json::to_writer`] does, under the
/// global `--json-int`.
pub fn write_json<W: std::io::Write>(w: W, doc: &impl serde::Serialize) -> kzrescue::Result<()> {
    kzrescue::json::to_writer(w, doc, !super::context::get().json_int())
}

/// A document with a `schema` key put first.
#[derive(serde::Serialize)]
struct WithSchema<'a, T: serde::Serialize> {
    schema: &'a str,
    #[serde(flatten)]
    doc: &'a T,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_comes_first() {
        #[derive(serde::Serialize)]
        struct D {
            guid: u64,
        }
        let d = D { guid: 1 };
        let mut out = Vec::new();
        super::write_json(
            &mut out,
            &super::WithSchema {
                schema: "kzrescue.x/1",
                doc: &d,
            },
        )
        .unwrap();
        let doc = String::from_utf8(out).unwrap();
        assert!(
            doc.starts_with("{\n  \"schema\": \"kzrescue.x/1\""),
            "{doc}"
        );
    }
}
