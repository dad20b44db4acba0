//! Helpers of the nvlist tests: the libnvpair oracle script
//! (`tests/nvlist_libnvpair.py`) and our lists in its JSON shape.

use std::path::{Path, PathBuf};
use std::process::Command;

use kzrescue::zfs::nvlist::{NvList, NvValue};
use serde_json::{Value, json};

/// The libnvpair driver script.
pub fn script() -> PathBuf {
    super::root().join("tests/nvlist_libnvpair.py")
}

/// Whether python3 and libnvpair are usable (SKIPPED line / CI failure if not).
pub fn have_libnvpair(test: &str) -> bool {
    if !super::require_tool("python3", "python3", test) {
        return false;
    }
    let st = Command::new("python3")
        .arg(script())
        .arg("probe")
        .output()
        .expect("run python3");
    if st.status.code() == Some(77) {
        if super::in_ci() {
            panic!("{test}: libnvpair.so.3 missing (Debian package libnvpair3linux) and CI=true");
        }
        println!(
            "SKIPPED {test}: libnvpair.so.3 not found (install Debian package libnvpair3linux)"
        );
        return false;
    }
    true
}

/// libnvpair's JSON view of the packed list in `file`.
pub fn libnvpair_dump(file: &Path) -> Value {
    let out = Command::new("python3")
        .arg(script())
        .arg("dump")
        .arg(file)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "libnvpair could not unpack {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("dump JSON")
}

/// Our list in the dump's JSON shape.
pub fn to_json(l: &NvList) -> Value {
    let pairs: Vec<Value> = l
        .pairs
        .iter()
        .map(|p| json!([p.name, p.value.type_code(), value_json(&p.value)]))
        .collect();
    json!({"version": l.version, "nvflag": l.nvflag, "pairs": pairs})
}

fn value_json(v: &NvValue) -> Value {
    match v {
        NvValue::Boolean => Value::Null,
        NvValue::BooleanValue(b) => json!(b),
        NvValue::Byte(x) | NvValue::UInt8(x) => json!(x),
        NvValue::Int8(x) => json!(x),
        NvValue::Int16(x) => json!(x),
        NvValue::UInt16(x) => json!(x),
        NvValue::Int32(x) => json!(x),
        NvValue::UInt32(x) => json!(x),
        NvValue::Int64(x) | NvValue::HrTime(x) => json!(x),
        NvValue::UInt64(x) => json!(x),
        NvValue::Double(x) => json!(format!("0x{:016x}", x.to_bits())),
        NvValue::String(s) => json!(s),
        NvValue::ByteArray(a) | NvValue::UInt8Array(a) => json!(a),
        NvValue::BooleanArray(a) => json!(a),
        NvValue::Int8Array(a) => json!(a),
        NvValue::Int16Array(a) => json!(a),
        NvValue::UInt16Array(a) => json!(a),
        NvValue::Int32Array(a) => json!(a),
        NvValue::UInt32Array(a) => json!(a),
        NvValue::Int64Array(a) => json!(a),
        NvValue::UInt64Array(a) => json!(a),
        NvValue::StringArray(a) => json!(a),
        NvValue::NvList(l) => to_json(l),
        NvValue::NvListArray(a) => Value::Array(a.iter().map(to_json).collect()),
    }
}

/// libnvpair's JSON views of several packed lists, one python run.
pub fn libnvpair_dump_many(files: &[PathBuf]) -> Vec<Value> {
    let out = Command::new("python3")
        .arg(script())
        .arg("dump")
        .args(files)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "libnvpair could not unpack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("dump JSON"))
        .collect()
}

/// libnvpair repacks each `(xdr_in, native_out)` file as NV_ENCODE_NATIVE.
pub fn libnvpair_repack_native(pairs: &[(PathBuf, PathBuf)]) {
    let mut cmd = Command::new("python3");
    cmd.arg(script()).arg("repack");
    for (i, o) in pairs {
        cmd.arg(i).arg(o);
    }
    let out = cmd.output().expect("run python3");
    assert!(
        out.status.success(),
        "libnvpair repack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
