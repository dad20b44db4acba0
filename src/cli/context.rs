//! Options every subcommand shares, given once before or after the
//! subcommand's name: how to reach storage URIs (iSCSI initiator settings,
//! NFS mounts, a default portal) and how to print JSON integers.
//!
//! The CLI builds one [`Context`] from these and the documented
//! `KZRESCUE_*` environment fallbacks; the library never reads the
//! environment itself and gets [`AccessOptions`] passed down.

use kzrescue::repair::apply::{self, PausePoint};
use kzrescue::storage::{self, ChapCredentials, IscsiOptions, NfsMount};
use kzrescue::target::AccessOptions;
use kzrescue::{Error, Result};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The global options, accepted before and after the subcommand's name:
/// `kzrescue label iscsi://… --chap-user u …`. Each subcommand declares its
/// own copy when it is parsed (see `cli::command`); `global = true` carries
/// them on to nested subcommands (`label repair`, `manifest diff`, …) and
/// their values back up to the top level.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Storage access (every command that opens a target)")]
pub struct GlobalArgs {
    /// CHAP user name for iSCSI targets (also KZRESCUE_CHAP_USER); the
    /// secret comes from --chap-secret-file, never the command line.
    /// One-way CHAP: the initiator does not authenticate the target.
    #[arg(long, global = true, value_name = "NAME")]
    pub chap_user: Option<String>,
    /// File holding the CHAP secret, one line (also
    /// KZRESCUE_CHAP_SECRET_FILE, or KZRESCUE_CHAP_SECRET).
    #[arg(long, global = true, value_name = "FILE")]
    pub chap_secret_file: Option<PathBuf>,
    /// Our iSCSI initiator name (also KZRESCUE_INITIATOR_NAME; default
    /// iqn.2026-11.org.kzrescue:<hostname>).
    #[arg(long, global = true, value_name = "IQN")]
    pub initiator_name: Option<String>,
    /// Seconds to wait on every iSCSI socket read and write; connecting
    /// waits at most 10 of them (also KZRESCUE_ISCSI_TIMEOUT; default 30).
    #[arg(long, global = true, value_name = "SECS", value_parser = storage::parse_timeout)]
    pub iscsi_timeout: Option<std::time::Duration>,
    /// iSCSI header and data digests: none, crc32c (required) or prefer
    /// (also KZRESCUE_ISCSI_DIGEST; default none).
    #[arg(long, global = true, value_name = "DIGEST", value_parser = storage::parse_digest)]
    pub iscsi_digest: Option<storage::DigestPref>,
    /// Portal for host-less `iscsi:///…` URIs (also KZRESCUE_ISCSI_PORTAL).
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    pub iscsi_portal: Option<String>,
    /// An NFS share mounted locally, for `nfs:` URIs:
    /// `host:/export=/local/dir` (repeatable; also KZRESCUE_NFS_MOUNT,
    /// `;`-separated).
    #[arg(long, global = true, value_name = "HOST:/EXPORT=DIR")]
    pub nfs_mount: Vec<String>,
    /// In --json output, print integers as JSON numbers instead of decimal
    /// strings (numbers above 2^53 lose precision in many JSON readers).
    #[arg(long, global = true)]
    pub json_int: bool,
}

/// What the CLI was told once, for every command.
#[derive(Debug)]
pub struct Context {
    args: GlobalArgs,
    access: OnceLock<std::result::Result<AccessOptions, String>>,
}

static CONTEXT: OnceLock<Context> = OnceLock::new();

/// Records the global options (once, at start-up).
pub fn init(args: GlobalArgs) {
    let _ = CONTEXT.set(Context {
        args,
        access: OnceLock::new(),
    });
}

/// The global options in force (defaults when [`init`] was not called, as
/// in unit tests).
pub fn get() -> &'static Context {
    CONTEXT.get_or_init(|| Context {
        args: GlobalArgs::default(),
        access: OnceLock::new(),
    })
}

impl Context {
    /// Whether JSON integers are printed as numbers (`--json-int`).
    pub fn json_int(&self) -> bool {
        self.args.json_int
    }

    /// How to reach storage: the command line over the environment. Built
    /// on first use, so a bad `KZRESCUE_*` variable only stops a command
    /// that opens something.
    pub fn access(&self) -> Result<AccessOptions> {
        self.access
            .get_or_init(|| build(&self.args).map_err(|e| e.to_string()))
            .clone()
            .map_err(Error::Usage)
    }

    /// The crash tests' pause point for writers, from
    /// `KZRESCUE_TEST_PAUSE_AFTER_WRITE` (`K:MARKER`); none when unset or
    /// not that form.
    pub fn pause(&self) -> Option<PausePoint> {
        PausePoint::parse(&std::env::var(apply::PAUSE_ENV).ok()?)
    }
}

fn build(a: &GlobalArgs) -> Result<AccessOptions> {
    let mut o = AccessOptions::from_vars(&|k| std::env::var_os(k))?;
    let chap = match (&a.chap_user, &a.chap_secret_file) {
        (user, Some(file)) => {
            let user = user
                .clone()
                .or_else(|| o.iscsi.chap.as_ref().map(|c| c.user.clone()))
                .or_else(|| std::env::var("KZRESCUE_CHAP_USER").ok())
                .ok_or_else(|| {
                    Error::Usage(
                        "--chap-secret-file needs --chap-user or KZRESCUE_CHAP_USER".into(),
                    )
                })?;
            Some(ChapCredentials::from_file(&user, file)?)
        }
        (Some(user), None) => match &o.iscsi.chap {
            // the secret from the environment, under the user named here
            Some(c) => Some(ChapCredentials::new(user, &c.secret)?),
            None => {
                return Err(Error::Usage(
                    "--chap-user needs --chap-secret-file (or KZRESCUE_CHAP_SECRET_FILE)".into(),
                ));
            }
        },
        (None, None) => None,
    };
    let explicit = IscsiOptions {
        initiator_name: a.initiator_name.clone(),
        chap,
        timeout: a.iscsi_timeout,
        digest: a.iscsi_digest,
        read_io_bytes: None,
        read_depth: None,
    };
    o.iscsi = std::mem::take(&mut o.iscsi).overridden_by(explicit);
    for m in &a.nfs_mount {
        o.nfs_mounts.push(NfsMount::parse(m)?);
    }
    if let Some(p) = &a.iscsi_portal {
        o.iscsi_portal = Some(p.clone());
    }
    Ok(o)
}
