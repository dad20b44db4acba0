//! Walking a ZPL file system: every path under a directory, depth first,
//! with a guard against directory loops (a directory object is entered
//! once) and errors collected per path instead of aborting the walk.

use crate::error::Error;
use crate::zfs::dnode::Dnode;
use crate::zfs::zpl::{FileType, Znode, Zpl};
use std::collections::HashMap;

/// One object met on the walk.
pub struct Node {
    /// Path from the walk's root, starting with `/`, as bytes.
    pub path: Vec<u8>,
    /// Its dnode.
    pub dnode: Dnode,
    /// Its attributes.
    pub znode: Znode,
}

/// Walks the tree under object `start` (whose path is `prefix`); calls
/// `visit` for every object (directories before their contents) and `err`
/// for every path that could not be read.
pub fn walk(
    fs: &Zpl,
    start: u64,
    prefix: &[u8],
    mut visit: impl FnMut(Node),
    mut err: impl FnMut(Vec<u8>, Error),
) {
    // directory object → the path it was first entered by
    let mut seen: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut stack: Vec<(u64, Vec<u8>)> = vec![(start, prefix.to_vec())];
    while let Some((obj, path)) = stack.pop() {
        let (dn, z) = match fs.znode(obj) {
            Ok(x) => x,
            Err(e) => {
                err(path, e);
                continue;
            }
        };
        let is_dir = z.file_type() == FileType::Dir;
        if is_dir {
            if let Some(first) = seen.get(&obj) {
                let detail = format!(
                    "already entered as {}: the directory tree loops",
                    String::from_utf8_lossy(first)
                );
                err(
                    path,
                    Error::corrupt(format!("directory object {obj}"), 0, detail),
                );
                continue;
            }
            seen.insert(obj, path.clone());
        }
        if is_dir {
            match fs.readdir(&dn) {
                Ok(entries) => {
                    // reverse so that the stack pops them in name order
                    for e in entries.into_iter().rev() {
                        let mut p = path.clone();
                        if p.last() != Some(&b'/') {
                            p.push(b'/');
                        }
                        p.extend_from_slice(&e.name);
                        stack.push((e.object, p));
                    }
                }
                Err(e) => err(path.clone(), e),
            }
        }
        visit(Node {
            path,
            dnode: dn,
            znode: z,
        });
    }
}
