//! An nvlist as JSON: an object whose keys are the pair names in stored
//! order, each value the JSON spelling of its type (arrays for arrays,
//! objects for nested nvlists, `null` for a non-finite double).

use super::{NvList, NvValue};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::nvlist::NvPair;

    #[test]
    fn pairs_keep_their_order_and_types() {
        let inner = NvList {
            pairs: vec![NvPair {
                name: "ashift".into(),
                value: NvValue::UInt64(12),
            }],
            version: 0,
            nvflag: 1,
        };
        let l = NvList {
            pairs: vec![
                NvPair {
                    name: "name".into(),
                    value: NvValue::String("rpool".into()),
                },
                NvPair {
                    name: "vdev_tree".into(),
                    value: NvValue::NvList(inner),
                },
                NvPair {
                    name: "d".into(),
                    value: NvValue::Double(f64::NAN),
                },
            ],
            version: 0,
            nvflag: 1,
        };
        let text = serde_json::to_string(&NvJson(&l)).unwrap();
        assert_eq!(
            text,
            r#"{"name":"rpool","vdev_tree":{"ashift":12},"d":null}"#
        );
    }
}
