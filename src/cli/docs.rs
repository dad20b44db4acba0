//! `kzrescue completions SHELL` and `kzrescue manpage DIR`: shell completions
//! and man pages generated from the CLI definition itself, each man page
//! with an EXIT STATUS and an EXAMPLES section from the tables below (the
//! README's exit-code table says the same).

use kzrescue::{Error, Result};
use std::path::{Path, PathBuf};

/// `kzrescue completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

/// `kzrescue manpage`.
#[derive(clap::Args, Debug)]
pub struct ManpageArgs {
    /// Directory to write kzrescue.1 and one kzrescue-<command>.1 per subcommand into.
    out_dir: PathBuf,
}

/// The exit codes: the README's table (between its `exit-codes.md`
/// markers) is this file, word for word; a test keeps them equal.
pub const EXIT_CODES: &str = include_str!("exit-codes.md");

/// Examples per man page: `## page` lines, each followed by its commands.
const EXAMPLES: &str = include_str!("examples.txt");

/// The cells of the rows of the markdown table after `header` in `text`,
/// markdown taken out (backticks, `\|`).
fn table_rows(text: &str, header: &str) -> Vec<Vec<String>> {
    let lines = text.lines().skip_while(|l| !l.starts_with(header)).skip(2);
    lines
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let l = l.replace("\\|", "\u{1}");
            let cells = l.trim().trim_matches('|').split('|');
            cells
                .map(|c| c.trim().replace('`', "").replace('\u{1}', "|"))
                .collect()
        })
        .collect()
}

/// The page names a row of the command table is about: `label repair` →
/// `label-repair`, `physpath DISK…` → `physpath` (words up to the first
/// one not in lower case).
fn row_pages(names: &str) -> Vec<String> {
    names
        .split(", ")
        .map(|n| {
            let words = n
                .split(' ')
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase()));
            words.collect::<Vec<_>>().join("-")
        })
        .collect()
}

/// The rows of the command table for page `name`: its own and those of
/// forms without a page of their own (`manifest diff` on `manifest`), else
/// its parent's (`uri-parse` → `uri`).
fn command_rows(name: &str) -> Vec<(String, String)> {
    let rows = table_rows(EXIT_CODES, "| command |");
    let find = |page: &str| -> Vec<(String, String)> {
        let prefix = format!("{page}-");
        rows.iter()
            .filter(|r| {
                let pages = row_pages(&r[0]);
                pages.iter().any(|p| p == page || p.starts_with(&prefix))
            })
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect()
    };
    let own = find(name);
    match name.rsplit_once('-') {
        Some((parent, _)) if own.is_empty() => find(parent),
        _ => own,
    }
}

/// The commands of page `name` in [`EXAMPLES`].
fn examples(name: &str) -> Vec<&'static str> {
    let header = format!("## {name}");
    let mut lines = EXAMPLES.lines().skip_while(|l| *l != header).skip(1);
    let mut out = Vec::new();
    for l in lines.by_ref() {
        if l.starts_with("## ") {
            break;
        }
        if !l.is_empty() && !l.starts_with('#') {
            out.push(l);
        }
    }
    out
}

/// Prints the completion script for a shell.
pub fn completions(a: &CompletionsArgs) -> Result<u8> {
    let mut cmd = super::command();
    clap_complete::generate(a.shell, &mut cmd, "kzrescue", &mut std::io::stdout());
    Ok(0)
}

/// Text safe in a roff line: backslashes doubled, hyphens escaped, a line
/// that starts with a control character protected.
fn roff(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// The EXIT STATUS and EXAMPLES sections of the page `name` (the command
/// path without `kzrescue-`, or `kzrescue`), from [`EXIT_CODES`] and
/// [`EXAMPLES`].
pub fn extra_sections(name: &str) -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n.PP\n");
    s.push_str(&roff(
        &EXIT_CODES
            .lines()
            .next()
            .unwrap_or_default()
            .replace('`', ""),
    ));
    s.push('\n');
    for r in table_rows(EXIT_CODES, "| code |") {
        if r[0] != "1" || name == "kzrescue" {
            s.push_str(&format!(".PP\n{}\n", roff(&format!("{} {}", r[0], r[1]))));
        }
    }
    for (names, meaning) in command_rows(name) {
        let line = format!("1 ({names}): {meaning}");
        s.push_str(&format!(".PP\n{}\n", roff(&line)));
    }
    let ex = examples(name);
    if !ex.is_empty() {
        s.push_str(".SH EXAMPLES\n");
        for e in ex {
            s.push_str(".PP\n.nf\n");
            s.push_str(&roff(e));
            s.push_str("\n.fi\n");
        }
    }
    s
}

/// Writes one page per command, recursively, each with [`extra_sections`].
fn write_pages(cmd: clap::Command, dir: &Path, n: &mut usize) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        write_pages(sub, dir, n)?;
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let path = dir.join(man.get_filename());
    let mut buf = Vec::new();
    man.render(&mut buf)
        .map_err(|e| Error::io(format!("render {}", path.display()), e))?;
    let stem = man.get_filename();
    let stem = stem.trim_end_matches(".1");
    let name = stem.strip_prefix("kzrescue-").unwrap_or(stem);
    buf.extend_from_slice(extra_sections(name).as_bytes());
    std::fs::write(&path, buf).map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    *n += 1;
    Ok(())
}

/// Writes the man pages.
pub fn manpage(a: &ManpageArgs) -> Result<u8> {
    std::fs::create_dir_all(&a.out_dir)
        .map_err(|e| Error::io(format!("create {}", a.out_dir.display()), e))?;
    let mut cmd = super::command().disable_help_subcommand(true);
    cmd.build();
    let mut n = 0;
    write_pages(cmd, &a.out_dir, &mut n)?;
    println!("wrote {n} man pages to {}", a.out_dir.display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    /// Every command and subcommand has its exit line (its own or its
    /// parent's) and every example names a real page.
    #[test]
    fn exit_codes_and_examples_cover_every_page() {
        let mut cmd = super::super::command();
        cmd.build();
        let mut names = vec!["kzrescue".to_string()];
        fn walk(c: &clap::Command, prefix: &str, out: &mut Vec<String>) {
            for s in c.get_subcommands() {
                if s.get_name() == "help" {
                    continue;
                }
                let n = if prefix.is_empty() {
                    s.get_name().to_string()
                } else {
                    format!("{prefix}-{}", s.get_name())
                };
                out.push(n.clone());
                let mut s = s.clone();
                s.build();
                walk(&s, &n, out);
            }
        }
        walk(&cmd, "", &mut names);
        for n in &names[1..] {
            assert!(!super::command_rows(n).is_empty(), "{n} has no exit line");
            let s = super::extra_sections(n);
            let exit = s.split(".SH EXAMPLES").next().unwrap_or_default();
            assert_eq!(
                exit.matches(".PP").count(),
                4 + super::command_rows(n).len(),
                "{n}"
            );
        }
        assert!(super::extra_sections("kzrescue").contains("\n1 the command ran"));
        for l in super::EXAMPLES.lines().filter(|l| l.starts_with("## ")) {
            assert!(names.iter().any(|x| *x == l[3..]), "{l} is no page");
        }
        for r in super::table_rows(super::EXIT_CODES, "| command |") {
            for p in super::row_pages(&r[0]) {
                let page = names.contains(&p);
                let form = names.iter().any(|x| p.starts_with(&format!("{x}-")));
                assert!(page || form, "{p} is no command");
            }
        }
    }

    /// The README's exit-code section is `exit-codes.md`, word for word.
    #[test]
    fn readme_exit_codes_are_the_same_text() {
        let readme = include_str!("../../README.md");
        let inner = readme
            .split_once("<!-- exit-codes.md -->\n")
            .and_then(|(_, r)| r.split_once("<!-- /exit-codes.md -->"))
            .map(|(t, _)| t);
        assert_eq!(inner, Some(super::EXIT_CODES));
    }
}
