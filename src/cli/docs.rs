//! `kzrescue completions SHELL` and `kzrescue manpage DIR`: shell completions
//! and man pages generated from the CLI definition itself.

use kzrescue::{Error, Result};
use std::path::PathBuf;

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

/// Prints the completion script for a shell.
pub fn completions(a: &CompletionsArgs) -> Result<u8> {
    let mut cmd = super::command();
    clap_complete::generate(a.shell, &mut cmd, "kzrescue", &mut std::io::stdout());
    Ok(0)
}

/// Writes the man pages.
pub fn manpage(a: &ManpageArgs) -> Result<u8> {
    std::fs::create_dir_all(&a.out_dir)
        .map_err(|e| Error::io(format!("create {}", a.out_dir.display()), e))?;
    let cmd = super::command();
    clap_mangen::generate_to(cmd, &a.out_dir)
        .map_err(|e| Error::io(format!("write man pages to {}", a.out_dir.display()), e))?;
    let mut n = 0;
    for e in std::fs::read_dir(&a.out_dir)
        .map_err(|e| Error::io(format!("list {}", a.out_dir.display()), e))?
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "1") {
            n += 1;
        }
    }
    println!("wrote {n} man pages to {}", a.out_dir.display());
    Ok(0)
}
