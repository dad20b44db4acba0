//! What `kzrescue datasets` reports: every dataset and snapshot of an
//! opened pool, as `zdb -d` lists them, and its JSON document
//! (`kzrescue.datasets/2`, see formats/json-schema.md).

use crate::zfs::dsl::{DatasetInfo, MosInfo};
use crate::zfs::spa::OpenPool;
use crate::zfs::zdb::{dataset_line, dataset_type, nicenum};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Every dataset and snapshot of an opened pool, as `zdb -d` lists them.
pub struct Catalog {
    /// Pool name.
    pub pool: String,
    /// Pool guid.
    pub pool_guid: u64,
    /// SPA version.
    pub version: u64,
    /// The txg read.
    pub txg: u64,
    /// The MOS's own line: its used bytes and objects.
    pub mos: MosInfo,
    /// The datasets and snapshots that read.
    pub datasets: Vec<DatasetInfo>,
    /// DSL objects that did not read, then datasets with a problem
    /// (`dataset NAME: problem`).
    pub errors: Vec<String>,
    /// Notes from assembling the pool.
    pub notes: Vec<String>,
}

/// Lists every dataset and snapshot of `o`.
pub fn catalog(o: &OpenPool) -> Catalog {
    let mut datasets = Vec::new();
    let mut errors = Vec::new();
    for d in o.mos.datasets(&o.pool) {
        match d {
            Ok(d) => datasets.push(d),
            Err(e) => errors.push(e.to_string()),
        }
    }
    for d in &datasets {
        if let Some(p) = &d.problem {
            errors.push(format!("dataset {}: {p}", d.name));
        }
    }
    Catalog {
        pool: o.pool.name.clone(),
        pool_guid: o.pool.guid,
        version: o.pool.version,
        txg: o.uberblock.txg,
        mos: o.mos.info(&o.pool),
        datasets,
        errors,
        notes: o.notes.clone(),
    }
}

/// One dataset of the JSON document.
#[derive(Serialize)]
pub struct DatasetJson<'a> {
    name: &'a str,
    id: u64,
    #[serde(rename = "type")]
    kind: String,
    snapshot: bool,
    creation_txg: u64,
    creation_time: u64,
    referenced_bytes: u64,
    objects: u64,
    guid: u64,
    encrypted: bool,
    problem: Option<&'a str>,
    properties: &'a BTreeMap<String, String>,
}

/// The MOS of the JSON document.
#[derive(Serialize)]
pub struct MosJson {
    used_bytes: Option<u64>,
    objects: u64,
}

/// The `kzrescue.datasets/2` document (without its `schema`).
#[derive(Serialize)]
pub struct CatalogDoc<'a> {
    pool: &'a str,
    pool_guid: u64,
    version: u64,
    txg: u64,
    mos: MosJson,
    datasets: Vec<DatasetJson<'a>>,
    errors: &'a [String],
    notes: &'a [String],
}

/// One dataset's entry in the JSON document.
fn dataset_json(d: &DatasetInfo) -> DatasetJson<'_> {
    DatasetJson {
        name: &d.name,
        id: d.id,
        kind: dataset_type(d),
        snapshot: d.snapshot,
        creation_txg: d.ds.creation_txg,
        creation_time: d.ds.creation_time,
        referenced_bytes: d.ds.referenced_bytes,
        objects: d.objects(),
        guid: d.ds.guid,
        encrypted: d.encrypted,
        problem: d.problem.as_deref(),
        properties: &d.props,
    }
}

impl Catalog {
    /// The `zdb -d` text: the MOS's line, then one per dataset (an
    /// encrypted one says its contents were not read).
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Dataset mos [META], ID 0, cr_txg 4, {}, {} objects",
            self.mos
                .used_bytes
                .map(nicenum)
                .unwrap_or_else(|| "-".into()),
            self.mos.objects
        );
        for d in &self.datasets {
            let encrypted = if d.encrypted {
                " (encrypted: contents not read)"
            } else {
                ""
            };
            let _ = writeln!(s, "{}{encrypted}", dataset_line(d));
        }
        s
    }

    /// The JSON document.
    pub fn json(&self) -> CatalogDoc<'_> {
        CatalogDoc {
            pool: &self.pool,
            pool_guid: self.pool_guid,
            version: self.version,
            txg: self.txg,
            mos: MosJson {
                used_bytes: self.mos.used_bytes,
                objects: self.mos.objects,
            },
            datasets: self.datasets.iter().map(dataset_json).collect(),
            errors: &self.errors,
            notes: &self.notes,
        }
    }
}
