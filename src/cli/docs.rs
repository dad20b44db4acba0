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

/// The exit codes every command shares (cli/mod.rs).
const EXIT_COMMON: &str = "0 success. 2 operational error: bad arguments, an unreadable or corrupt \
input (one line on stderr naming the structure and its byte offset), a failed preflight step (\"nothing \
written\"). 3 refused for safety: a write refused (a live pool, disagreeing labels, a target that \
changed or is held by someone else, a journal or key file that exists), or an unsafe input refused \
(a key file group or others can read: chmod 600, or --insecure-key-perms). Results go to stdout; \
errors, warnings and notes to stderr.";

/// What each command means by exit 1 (and its own codes), by man page name.
pub const EXIT_TABLE: &[(&str, &str)] = &[
    (
        "kzrescue",
        "1 the command ran and found problems (what that means is in each command's page).",
    ),
    (
        "partitions",
        "1 the table has a problem it worked around (a bad primary GPT, the backup used; notes printed). partitions restore: 1 the table still has notes after the restore; a dry run exits 0 when the plan is sound.",
    ),
    (
        "label",
        "1 a label is not valid, or the valid labels disagree. label repair: 1 a label is left bad after the repair (named); a dry run exits 0 when the plan is sound.",
    ),
    (
        "uberblocks",
        "1 a slot has a bad checksum, or there is no active uberblock.",
    ),
    ("physpath", "1 a label of one of the disks is not valid."),
    (
        "physpath-set",
        "1 the disks of the mirror are out of sync (a label txg behind its sibling's); a dry run (without --write) exits 0 when the plan is sound.",
    ),
    (
        "undo",
        "0 also when ranges would be restored: without --write undo shows them and writes nothing. 1 is not used.",
    ),
    ("hostdata", "see the subcommands."),
    (
        "hostdata-show",
        "0 when a valid copy serves; otherwise the code hostdata check gives.",
    ),
    (
        "hostdata-check",
        "0 healthy, 10 no host data, 11 key not available, 12 key incorrect, 13 corrupt or tampered, 14 owned by another host, 15 degraded (one copy serves).",
    ),
    (
        "hostdata-init",
        "0 written, or a sound dry run (without --write). 1 is not used.",
    ),
    (
        "hostdata-takeover",
        "0 written, or a sound dry run (without --write). 1 is not used.",
    ),
    ("uri", "1 is not used."),
    ("iscsi", "1 is not used."),
    (
        "scan",
        "1 the vdevs found disagree with the partition table (a vdev outside any slice, a slice without its vdev).",
    ),
    (
        "datasets",
        "1 a dataset or snapshot could not be read (named on stderr); the others are listed.",
    ),
    ("ls", "1 an entry could not be read (named on stderr)."),
    (
        "cat",
        "1 the file was written, but a block could not be verified (warned on stderr).",
    ),
    (
        "export",
        "1 a file could not be read or verified (named on stderr); the others are copied.",
    ),
    (
        "manifest",
        "1 a file could not be read (listed under errors); manifest diff: 1 the manifests differ, as diff(1).",
    ),
    ("timeline", "1 is not used."),
    (
        "changes",
        "1 an object could not be read (listed under errors).",
    ),
    (
        "deleted",
        "1 an object could not be read (listed under errors).",
    ),
    (
        "diagnose",
        "fsck-style: 0 healthy, 1 problems kzrescue repair can fix, 2 problems it cannot fix (or an error), 3 the pool is live.",
    ),
    (
        "repair",
        "as diagnose, after the repair: 1 problems remain; a dry run exits as diagnose does.",
    ),
    ("demo", "0 the walk-through ended healthy; 2 otherwise."),
    ("completions", "1 is not used."),
    ("manpage", "1 is not used."),
];

/// Examples per man page name.
pub const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "kzrescue",
        &[
            "kzrescue demo",
            "kzrescue diagnose --zone-config kz1.zonecfg",
            "kzrescue label iscsi://192.0.2.10/luname.naa.600144f0dbf8af19000052e820d60003 --chap-user u --chap-secret-file f",
        ],
    ),
    (
        "partitions",
        &[
            "kzrescue partitions disk0.img",
            "kzrescue partitions /dev/sdb --json",
        ],
    ),
    (
        "label",
        &[
            "kzrescue label disk0.img",
            "kzrescue label disk0.img --slice 1 --json",
        ],
    ),
    ("uberblocks", &["kzrescue uberblocks disk0.img"]),
    (
        "physpath",
        &[
            "kzrescue physpath disk0.img",
            "kzrescue physpath kzm0.img kzm1.img",
        ],
    ),
    (
        "physpath-set",
        &[
            "kzrescue physpath set disk0.img --device-id 0",
            "kzrescue physpath set kzm0.img kzm1.img --device-id 0 1 --write",
            "kzrescue physpath set disk0.img --device-id 0 --write --journal-dir /var/tmp",
        ],
    ),
    (
        "undo",
        &[
            "kzrescue undo kzrescue-physpath-rpool-1796596044.kzj",
            "kzrescue undo kzrescue-physpath-rpool-1796596044.kzj --write",
        ],
    ),
    (
        "hostdata-show",
        &["kzrescue hostdata show disk0.img --key /etc/zones/keys/kz1"],
    ),
    (
        "hostdata-check",
        &["kzrescue hostdata check disk0.img --key /etc/zones/keys/kz1 --hostid 848611d4; echo $?"],
    ),
    (
        "hostdata-init",
        &[
            "kzrescue hostdata init disk0.img --zone kz1 --key-out kz1.key",
            "kzrescue hostdata init disk0.img --zone kz1 --key-out kz1.key -y",
        ],
    ),
    (
        "hostdata-takeover",
        &[
            "kzrescue hostdata takeover disk0.img --key kz1.key --hostid 848611d4 --hostname global2 --write",
        ],
    ),
    (
        "uri-parse",
        &["kzrescue uri parse iscsi://zfssa/luname.naa.600144F0DBF8AF19000052E820D60003"],
    ),
    (
        "uri-map",
        &[
            "kzrescue uri map dev:/dev/zvol/dsk/rpool/VARSHARE/zones/kz1/disk0 --via-iscsi --rescue-host 192.0.2.10 --zone kz1",
        ],
    ),
    (
        "iscsi-discover",
        &["kzrescue iscsi discover 192.0.2.10 --chap-user u --chap-secret-file f"],
    ),
    (
        "iscsi-inquiry",
        &["kzrescue iscsi inquiry iscsi://192.0.2.10/luname.naa.600144f0dbf8af19000052e820d60003"],
    ),
    (
        "iscsi-read",
        &[
            "kzrescue iscsi read iscsi://192.0.2.10/luname.naa.600144f0dbf8af19000052e820d60003 -o disk0.img",
        ],
    ),
    ("scan", &["kzrescue scan disk0.img"]),
    (
        "datasets",
        &[
            "kzrescue datasets disk0.img",
            "kzrescue datasets kzm0.img kzm1.img --json",
        ],
    ),
    ("ls", &["kzrescue ls disk0.img rpool/ROOT/solaris:/etc"]),
    (
        "cat",
        &["kzrescue cat disk0.img rpool/ROOT/solaris:/etc/passwd"],
    ),
    (
        "export",
        &["kzrescue export disk0.img rpool/ROOT/solaris:/etc --to /tmp/etc"],
    ),
    (
        "manifest",
        &[
            "kzrescue manifest disk0.img rpool/ROOT/solaris > base.json",
            "kzrescue manifest diff base.json now.json",
        ],
    ),
    ("timeline", &["kzrescue timeline disk0.img"]),
    (
        "changes",
        &["kzrescue changes disk0.img rpool/ROOT/solaris --since @install"],
    ),
    ("deleted", &["kzrescue deleted disk0.img rpool/export/home"]),
    (
        "diagnose",
        &["kzrescue diagnose --zone-config kz1.zonecfg --keys /etc/zones/keys"],
    ),
    (
        "repair",
        &[
            "kzrescue repair --zone-config kz1.zonecfg --dry-run",
            "kzrescue repair --zone-config kz1.zonecfg --write",
        ],
    ),
    ("demo", &["kzrescue demo"]),
    (
        "completions",
        &["kzrescue completions bash > /etc/bash_completion.d/kzrescue"],
    ),
    ("manpage", &["kzrescue manpage /usr/local/share/man/man1"]),
];

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
/// path without `kzrescue-`, or `kzrescue`).
pub fn extra_sections(name: &str) -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n.PP\n");
    s.push_str(&roff(EXIT_COMMON));
    s.push('\n');
    // the page's own line, else its parent's (`uri-parse` → `uri`)
    let own = EXIT_TABLE
        .iter()
        .find(|(n, _)| *n == name)
        .or_else(|| {
            let parent = name.rsplit_once('-').map(|p| p.0)?;
            EXIT_TABLE.iter().find(|(n, _)| *n == parent)
        })
        .map(|e| e.1);
    if let Some(t) = own {
        s.push_str(".PP\n");
        s.push_str(&roff(t));
        s.push('\n');
    }
    if let Some((_, ex)) = EXAMPLES.iter().find(|(n, _)| *n == name) {
        s.push_str(".SH EXAMPLES\n");
        for e in *ex {
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
    /// parent's) and every table entry names a real page.
    #[test]
    fn exit_table_covers_every_page() {
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
        for n in &names {
            let s = super::extra_sections(n);
            assert!(s.contains(".SH \"EXIT STATUS\""), "{n}");
            assert!(
                s.matches(".PP").count() >= 2,
                "{n} has no exit line of its own"
            );
        }
        let listed = super::EXIT_TABLE
            .iter()
            .map(|e| e.0)
            .chain(super::EXAMPLES.iter().map(|e| e.0));
        for n in listed {
            assert!(names.iter().any(|x| x == n), "{n} is no page");
        }
    }
}
