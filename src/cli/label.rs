//! `kzrescue label <target>`: the four vdev labels, as `zdb -l` shows them,
//! plus each label's checksum verdict; `--json` for scripts
//! (schema `kzrescue.label/2`, see `formats/json-schema.md`).

use super::target::TargetArgs;
use super::zdbfmt;
use kzrescue::Result;
use kzrescue::source::SharedSource;
use kzrescue::zfs::eck::words_hex;
use kzrescue::zfs::label::{self, LabelComparison, LabelRead, LabelStatus};
use kzrescue::zfs::nvlist::{NvList, NvValue};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

/// The `schema` of `kzrescue label --json` (2: integers are strings
/// unless `--json-int`).
pub const SCHEMA: &str = "kzrescue.label/2";

/// Arguments of `kzrescue label`: show the labels of TARGET, or, with the
/// `repair` subcommand, rebuild them. A target file literally named `repair`
/// is reached as `./repair`.
#[derive(clap::Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "A target file literally named `repair` is given as `./repair`."
)]
pub struct LabelArgs {
    #[command(subcommand)]
    pub action: Option<LabelCommand>,
    /// Image file, block device or storage URI (file:, dev:, lu:, iscsi:,
    /// nfs:): a whole disk (the ZFS slice is found in its GPT or VTOC) or a
    /// bare vdev.
    #[arg(required = true)]
    pub target: Option<String>,
    /// Use this Solaris slice (GPT entry N+1, VTOC slice N) instead of the
    /// one ZFS slice.
    #[arg(long, value_name = "N", value_parser = super::bounds::parse_slice)]
    pub slice: Option<u32>,
    /// Logical sector size of the disk (512 or 4096); detected by default.
    #[arg(long, value_name = "BYTES", value_parser = super::target::parse_sector_size)]
    pub sector_size: Option<u32>,
    /// Print JSON (schema `kzrescue.label/2`; integers as strings unless
    /// --json-int) instead of zdb-style text.
    #[arg(long)]
    pub json: bool,
}

/// The writers under `kzrescue label`.
#[derive(clap::Subcommand, Debug)]
pub enum LabelCommand {
    /// Rebuild vdev labels that are missing or fail their checksum from a
    /// valid label of the same vdev (journalled; dry run by default).
    Repair(super::recover::LabelRepairArgs),
}

/// The vdev a target resolves to, opened read-only.
pub struct Opened {
    /// The vdev's bytes (a window on the slice, or the whole device).
    pub src: SharedSource,
    /// What was opened, e.g. `disk.img s0 (minor a, bytes 0x20000+…)`.
    pub describe: String,
    /// Byte offset of the vdev on the disk (0 for a whole-device vdev).
    pub vdev_start: u64,
}

/// Opens the target read-only and resolves its vdev.
pub fn open_target(target: &TargetArgs) -> Result<Opened> {
    let v = target.open(false)?;
    Ok(Opened {
        describe: v.describe(),
        vdev_start: v.partition.as_ref().map_or(0, |p| p.start),
        src: v.source,
    })
}

/// Exit status for a set of labels: 0 all four valid and in agreement,
/// 1 some label bad or labels disagree, 2 no label's config decodes.
pub fn labels_exit(labels: &[LabelRead], cmp: &LabelComparison) -> u8 {
    if labels.iter().all(|l| l.config.is_none()) {
        super::EXIT_ERROR
    } else if labels.iter().any(|l| l.status != LabelStatus::Valid) || !cmp.disagreements.is_empty()
    {
        super::EXIT_PROBLEMS
    } else {
        super::EXIT_OK
    }
}

/// What is wrong with the labels, on stderr (stdout keeps `zdb -l`'s
/// format): for exit 2 one line naming every label's state; for exit 1 one
/// warning per label that is not valid and per field the valid ones
/// disagree on. Each names the label's byte offset.
pub fn report_labels(describe: &str, labels: &[LabelRead], cmp: &LabelComparison, code: u8) {
    let state = |l: &LabelRead| {
        let mut s = format!(
            "label {} at byte offset {:#x}: {}",
            l.index,
            l.phys_offset(),
            l.status.name()
        );
        if let Some(p) = &l.problem {
            s.push_str(&format!(" ({p})"));
        }
        s
    };
    if code == super::EXIT_ERROR {
        let all: Vec<String> = labels.iter().map(state).collect();
        eprintln!(
            "kzrescue: vdev labels of {describe}: none decodes — {}",
            all.join("; ")
        );
        return;
    }
    for l in labels.iter().filter(|l| l.status != LabelStatus::Valid) {
        eprintln!("kzrescue: warning: vdev {}", state(l));
    }
    for d in &cmp.disagreements {
        let v: Vec<String> = d
            .values
            .iter()
            .map(|(i, v)| {
                let at = labels.get(*i).map_or(0, |l| l.phys_offset());
                format!("label {i} (byte offset {at:#x}) {v}")
            })
            .collect();
        eprintln!(
            "kzrescue: warning: vdev labels disagree on {}: {}",
            d.field,
            v.join(", ")
        );
    }
}

/// Runs the subcommand.
pub fn run(args: &LabelArgs) -> Result<u8> {
    let target = match (&args.action, &args.target) {
        (Some(LabelCommand::Repair(a)), _) => return super::recover::run_label_repair(a),
        (None, Some(t)) => TargetArgs {
            target: t.clone(),
            slice: args.slice,
            sector_size: args.sector_size,
        },
        (None, None) => return Err(kzrescue::Error::Usage("label: a TARGET is required".into())),
    };
    let t = open_target(&target)?;
    let src = &t.src;
    let labels = label::read_labels(src.as_ref());
    let cmp = label::compare(&labels);
    let code = labels_exit(&labels, &cmp);
    if args.json {
        let doc = LabelDoc::new(&t, &labels, &cmp, code);
        super::out::print_json(SCHEMA, &doc)?;
    } else {
        print!(
            "{}",
            zdbfmt::render(src.as_ref(), &labels, &cmp, None, None)
        );
    }
    report_labels(&t.describe, &labels, &cmp, code);
    Ok(code)
}

/// An nvlist serialised as a JSON object in stored pair order.
pub struct NvJson<'a>(pub &'a NvList);

struct NvValueJson<'a>(&'a NvValue);

impl Serialize for NvJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.pairs.len()))?;
        for p in &self.0.pairs {
            m.serialize_entry(&p.name, &NvValueJson(&p.value))?;
        }
        m.end()
    }
}

fn seq<S: Serializer, T: Serialize>(s: S, v: &[T]) -> std::result::Result<S::Ok, S::Error> {
    let mut q = s.serialize_seq(Some(v.len()))?;
    for x in v {
        q.serialize_element(x)?;
    }
    q.end()
}

impl Serialize for NvValueJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            NvValue::Boolean => s.serialize_bool(true),
            NvValue::BooleanValue(b) => s.serialize_bool(*b),
            NvValue::Byte(v) | NvValue::UInt8(v) => s.serialize_u8(*v),
            NvValue::Int8(v) => s.serialize_i8(*v),
            NvValue::Int16(v) => s.serialize_i16(*v),
            NvValue::UInt16(v) => s.serialize_u16(*v),
            NvValue::Int32(v) => s.serialize_i32(*v),
            NvValue::UInt32(v) => s.serialize_u32(*v),
            NvValue::Int64(v) | NvValue::HrTime(v) => s.serialize_i64(*v),
            NvValue::UInt64(v) => s.serialize_u64(*v),
            NvValue::Double(v) => {
                if v.is_finite() {
                    s.serialize_f64(*v)
                } else {
                    s.serialize_none()
                }
            }
            NvValue::String(v) => s.serialize_str(v),
            NvValue::ByteArray(v) | NvValue::UInt8Array(v) => seq(s, v),
            NvValue::BooleanArray(v) => seq(s, v),
            NvValue::Int8Array(v) => seq(s, v),
            NvValue::Int16Array(v) => seq(s, v),
            NvValue::UInt16Array(v) => seq(s, v),
            NvValue::Int32Array(v) => seq(s, v),
            NvValue::UInt32Array(v) => seq(s, v),
            NvValue::Int64Array(v) => seq(s, v),
            NvValue::UInt64Array(v) => seq(s, v),
            NvValue::StringArray(v) => seq(s, v),
            NvValue::NvList(l) => NvJson(l).serialize(s),
            NvValue::NvListArray(v) => {
                let items: Vec<NvJson> = v.iter().map(NvJson).collect();
                seq(s, &items)
            }
        }
    }
}

/// The embedded checksum of one label.
#[derive(Serialize)]
pub struct ChecksumJson {
    /// `little` or `big`, null when there is no trailer magic.
    pub endian: Option<&'static str>,
    /// Stored words `w0:w1:w2:w3` (hex).
    pub stored: String,
    /// Expected words.
    pub computed: String,
    /// Whether they match.
    pub valid: bool,
}

/// One label in JSON.
#[derive(Serialize)]
pub struct LabelJson<'a> {
    /// 0–3.
    pub index: usize,
    /// Byte offset of the label on the vdev.
    pub offset: u64,
    /// `valid`, `checksum_bad`, `blank`, `undecodable`, `unreadable`.
    pub status: &'static str,
    /// One-line reason when not valid.
    pub problem: Option<&'a str>,
    /// Checksum details (null when blank or unreadable).
    pub checksum: Option<ChecksumJson>,
    /// The 4 nvlist header bytes in hex.
    pub nvlist_header: Option<String>,
    /// Bytes of the packed nvlist.
    pub packed_size: Option<usize>,
    /// The config, keys in stored order.
    pub config: Option<NvJson<'a>>,
}

/// A disagreement in JSON.
#[derive(Serialize)]
pub struct DisagreeJson {
    /// Field name.
    pub field: String,
    /// `{label, value}` per valid label.
    pub values: Vec<LabelValue>,
}

/// A label's value of a field.
#[derive(Serialize)]
pub struct LabelValue {
    /// Label number.
    pub label: usize,
    /// The value as text.
    pub value: String,
}

/// The `kzrescue label --json` document.
#[derive(Serialize)]
pub struct LabelDoc<'a> {
    /// The target as opened (disk, slice, byte range).
    pub target: String,
    /// Byte offset of the vdev on the disk (0 for a whole-device vdev);
    /// every other offset in the document is relative to the vdev.
    pub vdev_start: u64,
    /// Size of the vdev in bytes.
    pub vdev_size: u64,
    /// The size ZFS uses (rounded down to 256 KiB).
    pub psize: u64,
    /// The four labels.
    pub labels: Vec<LabelJson<'a>>,
    /// Labels with byte-identical packed nvlists (zdb's `labels = ` lines).
    pub groups: Vec<Vec<usize>>,
    /// Fields on which valid labels disagree.
    pub disagreements: Vec<DisagreeJson>,
    /// The exit status the command returns.
    pub exit: u8,
}

impl<'a> LabelDoc<'a> {
    /// Builds the document.
    pub fn new(t: &Opened, labels: &'a [LabelRead], cmp: &LabelComparison, exit: u8) -> Self {
        let size = t.src.size();
        LabelDoc {
            target: t.describe.clone(),
            vdev_start: t.vdev_start,
            vdev_size: size,
            psize: label::psize(size),
            labels: labels.iter().map(label_json).collect(),
            groups: cmp.groups.clone(),
            disagreements: cmp
                .disagreements
                .iter()
                .map(|d| DisagreeJson {
                    field: d.field.clone(),
                    values: d
                        .values
                        .iter()
                        .map(|(l, v)| LabelValue {
                            label: *l,
                            value: v.clone(),
                        })
                        .collect(),
                })
                .collect(),
            exit,
        }
    }
}

/// One label as JSON.
pub fn label_json(l: &LabelRead) -> LabelJson<'_> {
    LabelJson {
        index: l.index,
        offset: l.offset,
        status: l.status.name(),
        problem: l.problem.as_deref(),
        checksum: l.eck.as_ref().map(|c| ChecksumJson {
            endian: c.endian.map(|e| e.name()),
            stored: words_hex(&c.stored),
            computed: words_hex(&c.computed),
            valid: c.valid(),
        }),
        nvlist_header: l.header.map(hex::encode),
        packed_size: l.packed_len,
        config: l.config.as_ref().map(NvJson),
    }
}
