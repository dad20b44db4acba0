//! The `kzrescue` command.
#![deny(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    cli::run()
}

/// Lets `kzrescue label disk.img | head` end quietly, like every Unix tool,
/// instead of panicking on the broken pipe: Rust ignores SIGPIPE by default.
#[allow(unsafe_code)]
fn restore_sigpipe() {
    // SAFETY: called first thing in main, before any thread exists; setting a
    // signal's disposition to its default has no memory-safety effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
