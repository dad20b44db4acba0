//! Walking a ZPL file system: every path under a directory, depth first,
//! with a guard against directory loops (a directory object is entered
//! once) and errors collected per path instead of aborting the walk.

use crate::error::Error;
use crate::zfs::dnode::Dnode;
use crate::zfs::zpl::{FileType, Znode, Zpl};
use std::collections::HashSet;

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
    let mut seen: HashSet<u64> = HashSet::new();
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
        if is_dir && !seen.insert(obj) {
            err(
                path,
                Error::corrupt(
                    format!("directory object {obj}"),
                    0,
                    "reached twice: the directory tree loops",
                ),
            );
            continue;
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
