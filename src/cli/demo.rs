//! `kzrescue demo`: the two field failures on a bundled real image
//! ([`kzrescue::demo`]), unpacked into a directory; diagnose → repair →
//! diagnose on it, each step shown with the command that does it.

use super::diagnose::print_diagnosis;
use super::repair::repair_and_report;
use kzrescue::demo::Demo;
use kzrescue::diagnose;
use kzrescue::{Error, Result};
use std::io::Write;
use std::path::PathBuf;

/// `kzrescue demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where to unpack the demo (default: a new directory under the system's
    /// temporary directory, kept afterwards so you can look at it).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Seconds between the two uberblock reads of the liveness check.
    #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = super::bounds::parse_interval)]
    liveness_interval: f64,
}

fn step(title: &str, cmd: &str) {
    println!();
    println!("################################################################");
    println!("# {title}");
    println!("# $ {cmd}");
    println!("################################################################");
    let _ = std::io::stdout().flush();
}

/// Runs the demo.
pub fn run(a: &DemoArgs) -> Result<u8> {
    let demo = Demo::unpack(a.dir.clone())?;
    let dir = demo.dir.display();
    print!("{}", demo.intro());

    let opts = demo.diagnose_options(a.liveness_interval);
    let cfg = demo.zone_config()?;
    let common = demo.common_args();
    step(
        "1. What is wrong? (read-only)",
        &format!("kzrescue diagnose {common}"),
    );
    let first = diagnose::diagnose(&cfg, &opts)?;
    print_diagnosis(&first.diagnosis);
    let broken = first.diagnosis.exit_code;
    drop(first);

    step(
        "2. Repair it: phys_path on the boot disk, and (asked for explicitly) new host data",
        &format!(
            "kzrescue repair {common} --reinit-hostdata --hostname demo-host --journal-dir {dir} --write"
        ),
    );
    let after = repair_and_report(&cfg, &opts, &demo.repair_options(&opts), false)?;

    step(
        "3. And again, from scratch",
        &format!("kzrescue diagnose {common}"),
    );
    let last = diagnose::diagnose(&cfg, &opts)?;
    print_diagnosis(&last.diagnosis);
    println!();
    println!(
        "demo: diagnose exited {broken} before the repair and {} after it; the undo journals in {dir} put every byte back (kzrescue undo JOURNAL --write).",
        last.diagnosis.exit_code,
    );
    if broken != diagnose::EXIT_REPAIRABLE || after != 0 || last.diagnosis.exit_code != 0 {
        return Err(Error::Usage(
            "the demo did not go as it should (see above)".into(),
        ));
    }
    Ok(0)
}
