//! Walking a ZPL file system: every path under a directory, depth first,
//! with a guard against directory loops (a directory object is entered
//! once) and errors collected per path instead of aborting the walk.
//!
//! A directory entry's name is a string an intruder may have chosen: each
//! node carries its name as stored and the walk index of the directory it
//! was read from, so that a consumer never has to split a path to learn
//! where a node belongs. A name that no POSIX file system can hold (empty,
//! `.`, `..`, containing `/` or NUL — see [`name_problem`]) appears in the
//! node's path in its escaped form ([`escape_name`]) and is flagged; so is a
//! name met twice in one directory.

use crate::error::Error;
use crate::zfs::dnode::Dnode;
use crate::zfs::zpl::{FileType, Znode, Zpl};
use std::collections::{HashMap, HashSet};

/// One object met on the walk.
pub struct Node {
    /// Path from the walk's root, starting with `/`, as bytes; hostile names
    /// appear escaped.
    pub path: Vec<u8>,
    /// The entry's name as stored in its directory (empty for the walk's root).
    pub name: Vec<u8>,
    /// Walk index (order of `visit` calls, from 0) of the directory this
    /// entry was read from; `None` for the walk's root.
    pub parent: Option<usize>,
    /// Why the name cannot be a file name (see [`name_problem`]).
    pub name_problem: Option<&'static str>,
    /// The same name was met earlier in the same directory.
    pub duplicate: bool,
    /// Its dnode.
    pub dnode: Dnode,
    /// Its attributes.
    pub znode: Znode,
}

/// Why `name` cannot name a file in a POSIX directory, or `None`.
pub fn name_problem(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        Some("the name is empty")
    } else if name == b"." {
        Some("the name is \".\"")
    } else if name == b".." {
        Some("the name is \"..\"")
    } else if name.contains(&b'/') {
        Some("the name contains '/'")
    } else if name.contains(&0) {
        Some("the name contains a NUL byte")
    } else {
        None
    }
}

/// The escaped form of a name [`name_problem`] refuses: `/` → `%2F`,
/// NUL → `%00`, `%` → `%25`, a name of only dots has each dot as `%2E`, an
/// empty name is `%`. A name without a problem is returned unchanged (so
/// an escaped name may meet a real one of the same spelling: that is a
/// duplicate, reported and not written over).
pub fn escape_name(name: &[u8]) -> Vec<u8> {
    if name_problem(name).is_none() {
        return name.to_vec();
    }
    if name.is_empty() {
        return b"%".to_vec();
    }
    if name.iter().all(|&b| b == b'.') {
        return name.iter().flat_map(|_| *b"%2E").collect();
    }
    let mut out = Vec::with_capacity(name.len() + 8);
    for &b in name {
        match b {
            b'/' => out.extend_from_slice(b"%2F"),
            0 => out.extend_from_slice(b"%00"),
            b'%' => out.extend_from_slice(b"%25"),
            _ => out.push(b),
        }
    }
    out
}

/// A directory entry waiting on the walk's stack.
struct Pending {
    obj: u64,
    path: Vec<u8>,
    name: Vec<u8>,
    parent: Option<usize>,
    duplicate: bool,
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
    let mut stack = vec![Pending {
        obj: start,
        path: prefix.to_vec(),
        name: Vec::new(),
        parent: None,
        duplicate: false,
    }];
    let mut visited = 0usize;
    while let Some(Pending {
        obj,
        path,
        name,
        parent,
        duplicate,
    }) = stack.pop()
    {
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
                    Error::corrupt(format!("directory object {obj}"), dn.phys, detail),
                );
                continue;
            }
            seen.insert(obj, path.clone());
        }
        let index = visited;
        if is_dir {
            match fs.readdir(&dn) {
                Ok(entries) => {
                    let mut names: HashSet<&[u8]> = HashSet::new();
                    let dup: Vec<bool> = entries
                        .iter()
                        .map(|e| !names.insert(e.name.as_slice()))
                        .collect();
                    // reverse so that the stack pops them in name order
                    for (e, duplicate) in entries.iter().zip(dup).rev() {
                        let mut p = path.clone();
                        if p.last() != Some(&b'/') {
                            p.push(b'/');
                        }
                        p.extend_from_slice(&escape_name(&e.name));
                        stack.push(Pending {
                            obj: e.object,
                            path: p,
                            name: e.name.clone(),
                            parent: Some(index),
                            duplicate,
                        });
                    }
                }
                Err(e) => err(path.clone(), e),
            }
        }
        visited += 1;
        visit(Node {
            path,
            name_problem: parent.and(name_problem(&name)),
            name,
            parent,
            duplicate,
            dnode: dn,
            znode: z,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_escape_to_plain_names() {
        for (n, e) in [
            (&b""[..], &b"%"[..]),
            (b".", b"%2E"),
            (b"..", b"%2E%2E"),
            (b"../../etc/passwd", b"..%2F..%2Fetc%2Fpasswd"),
            (b"a\0b%", b"a%00b%25"),
            (b"/", b"%2F"),
            (b"plain%name", b"plain%name"),
        ] {
            assert_eq!(escape_name(n), e, "{n:?}");
            assert!(name_problem(&escape_name(n)).is_none());
        }
    }
}
