//! Name-value lists (libnvpair `nvlist_t`): the data model.
//!
//! ZFS stores a vdev label's configuration as a *packed* nvlist. This module
//! holds the decoded form; `xdr` and `native` turn bytes into it and back.
//!
//! Pair order is significant on disk (loaders walk pairs in order, and a
//! byte-exact re-encode needs it), so a list is a `Vec` of pairs, never a map.

/// One nvlist: `nvl_version`, `nvl_nvflag` and the pairs in stored order.
#[derive(Debug, Clone, PartialEq)]
pub struct NvList {
    /// `nvl_version`; 0 (`NV_VERSION`) in every list ZFS writes.
    pub version: i32,
    /// `nvl_nvflag`: 1 = `NV_UNIQUE_NAME`, 2 = `NV_UNIQUE_NAME_TYPE`.
    pub nvflag: u32,
    /// The pairs, in stored order.
    pub pairs: Vec<NvPair>,
}

/// One name-value pair.
#[derive(Debug, Clone, PartialEq)]
pub struct NvPair {
    /// The pair's name.
    pub name: String,
    /// The typed value.
    pub value: NvValue,
}

/// A typed value; the variant is the libnvpair `data_type_t`.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum NvValue {
    /// `DATA_TYPE_BOOLEAN` (1): a presence flag with no value.
    Boolean,
    BooleanValue(bool),
    Byte(u8),
    Int8(i8),
    UInt8(u8),
    Int16(i16),
    UInt16(u16),
    Int32(i32),
    UInt32(u32),
    Int64(i64),
    UInt64(u64),
    HrTime(i64),
    Double(f64),
    String(String),
    ByteArray(Vec<u8>),
    BooleanArray(Vec<bool>),
    Int8Array(Vec<i8>),
    UInt8Array(Vec<u8>),
    Int16Array(Vec<i16>),
    UInt16Array(Vec<u16>),
    Int32Array(Vec<i32>),
    UInt32Array(Vec<u32>),
    Int64Array(Vec<i64>),
    UInt64Array(Vec<u64>),
    StringArray(Vec<String>),
    NvList(NvList),
    NvListArray(Vec<NvList>),
}

impl NvValue {
    /// The libnvpair `data_type_t` number of this value.
    pub fn type_code(&self) -> i32 {
        match self {
            NvValue::Boolean => 1,
            NvValue::Byte(_) => 2,
            NvValue::Int16(_) => 3,
            NvValue::UInt16(_) => 4,
            NvValue::Int32(_) => 5,
            NvValue::UInt32(_) => 6,
            NvValue::Int64(_) => 7,
            NvValue::UInt64(_) => 8,
            NvValue::String(_) => 9,
            NvValue::ByteArray(_) => 10,
            NvValue::Int16Array(_) => 11,
            NvValue::UInt16Array(_) => 12,
            NvValue::Int32Array(_) => 13,
            NvValue::UInt32Array(_) => 14,
            NvValue::Int64Array(_) => 15,
            NvValue::UInt64Array(_) => 16,
            NvValue::StringArray(_) => 17,
            NvValue::HrTime(_) => 18,
            NvValue::NvList(_) => 19,
            NvValue::NvListArray(_) => 20,
            NvValue::BooleanValue(_) => 21,
            NvValue::Int8(_) => 22,
            NvValue::UInt8(_) => 23,
            NvValue::BooleanArray(_) => 24,
            NvValue::Int8Array(_) => 25,
            NvValue::UInt8Array(_) => 26,
            NvValue::Double(_) => 27,
        }
    }
}

impl NvList {
    /// An empty list with version 0 and `NV_UNIQUE_NAME`, as ZFS makes them.
    pub fn new() -> Self {
        NvList {
            version: 0,
            nvflag: 1,
            pairs: Vec::new(),
        }
    }

    /// The value of the first pair called `name`.
    pub fn get(&self, name: &str) -> Option<&NvValue> {
        self.pairs.iter().find(|p| p.name == name).map(|p| &p.value)
    }

    /// Mutable access to the value of the first pair called `name`.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut NvValue> {
        self.pairs
            .iter_mut()
            .find(|p| p.name == name)
            .map(|p| &mut p.value)
    }

    /// `name` as a u64, if present with that type.
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            NvValue::UInt64(v) => Some(*v),
            _ => None,
        }
    }

    /// `name` as a string, if present with that type.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            NvValue::String(v) => Some(v),
            _ => None,
        }
    }

    /// `name` as an embedded nvlist.
    pub fn get_list(&self, name: &str) -> Option<&NvList> {
        match self.get(name)? {
            NvValue::NvList(v) => Some(v),
            _ => None,
        }
    }

    /// `name` as an nvlist array.
    pub fn get_list_array(&self, name: &str) -> Option<&[NvList]> {
        match self.get(name)? {
            NvValue::NvListArray(v) => Some(v),
            _ => None,
        }
    }

    /// Replaces the value of `name` in place (keeping its position), or
    /// appends a new pair at the end when there is none.
    pub fn set(&mut self, name: &str, value: NvValue) {
        match self.get_mut(name) {
            Some(v) => *v = value,
            None => self.pairs.push(NvPair {
                name: name.to_string(),
                value,
            }),
        }
    }

    /// Removes the pair called `name`; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<NvValue> {
        let i = self.pairs.iter().position(|p| p.name == name)?;
        Some(self.pairs.remove(i).value)
    }
}

impl Default for NvList {
    fn default() -> Self {
        Self::new()
    }
}
