//! The `vdev_tree` nvlist of a label: the top-level vdev subtree.
//!
//! Each node is an nvlist with `type`, `id`, `guid` and, for interior
//! nodes (mirror, raidz, replacing, spare), a `children` nvlist array. A
//! leaf (`disk`, `file`) carries `path`, `devid`, `phys_path`. A label
//! describes only the top-level vdev its device belongs to, siblings
//! included.

use crate::zfs::nvlist::{NvList, NvValue};

/// One node of the tree with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct VdevNode<'a> {
    /// Child indices from the top-level node down to this one (empty for
    /// the top-level node itself).
    pub position: Vec<usize>,
    /// The node's nvlist.
    pub list: &'a NvList,
}

impl<'a> VdevNode<'a> {
    /// `type` (`disk`, `file`, `mirror`, `raidz`, …).
    pub fn vdev_type(&self) -> Option<&'a str> {
        self.list.get_str("type")
    }
    /// `guid`.
    pub fn guid(&self) -> Option<u64> {
        self.list.get_u64("guid")
    }
    /// `id`.
    pub fn id(&self) -> Option<u64> {
        self.list.get_u64("id")
    }
    /// `path` (as a string; any other type counts as absent, as in ZFS).
    pub fn path(&self) -> Option<&'a str> {
        self.list.get_str("path")
    }
    /// `devid`.
    pub fn devid(&self) -> Option<&'a str> {
        self.list.get_str("devid")
    }
    /// `phys_path`.
    pub fn phys_path(&self) -> Option<&'a str> {
        self.list.get_str("phys_path")
    }
    /// Whether the node has no `children`.
    pub fn is_leaf(&self) -> bool {
        self.list.get_list_array("children").is_none()
    }
}

/// Every node, depth first, the top-level node first.
pub fn nodes(tree: &NvList) -> Vec<VdevNode<'_>> {
    fn walk<'a>(list: &'a NvList, pos: Vec<usize>, out: &mut Vec<VdevNode<'a>>, depth: usize) {
        let children = list.get_list_array("children");
        out.push(VdevNode {
            position: pos.clone(),
            list,
        });
        if depth >= 64 {
            return;
        }
        for (i, c) in children.unwrap_or_default().iter().enumerate() {
            let mut p = pos.clone();
            p.push(i);
            walk(c, p, out, depth + 1);
        }
    }
    let mut out = Vec::new();
    walk(tree, Vec::new(), &mut out, 0);
    out
}

/// The leaves (nodes without children), in order.
pub fn leaves(tree: &NvList) -> Vec<VdevNode<'_>> {
    nodes(tree).into_iter().filter(|n| n.is_leaf()).collect()
}

/// The node whose `guid` is `guid`.
pub fn find_guid(tree: &NvList, guid: u64) -> Option<VdevNode<'_>> {
    nodes(tree).into_iter().find(|n| n.guid() == Some(guid))
}

/// Mutable access to the node at `position` (as given by [`VdevNode::position`]).
pub fn node_at_mut<'a>(tree: &'a mut NvList, position: &[usize]) -> Option<&'a mut NvList> {
    let mut cur = tree;
    for &i in position {
        cur = match cur.get_mut("children")? {
            NvValue::NvListArray(v) => v.get_mut(i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// `guid` plus the guids of every node of the tree, mod 2^64 — the
/// uberblock's `ub_guid_sum` when the tree is the whole pool (pass the pool
/// guid as `pool_guid`; for a pool of several top-level vdevs add each
/// top-level's sum).
pub fn guid_sum(pool_guid: u64, tree: &NvList) -> u64 {
    nodes(tree)
        .iter()
        .filter_map(|n| n.guid())
        .fold(pool_guid, u64::wrapping_add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::nvlist::NvValue;

    fn leaf(guid: u64, path: &str) -> NvList {
        let mut l = NvList::new();
        l.set("type", NvValue::String("file".into()));
        l.set("guid", NvValue::UInt64(guid));
        l.set("path", NvValue::String(path.into()));
        l
    }

    #[test]
    fn mirror_walk() {
        let mut top = NvList::new();
        top.set("type", NvValue::String("mirror".into()));
        top.set("guid", NvValue::UInt64(10));
        top.set(
            "children",
            NvValue::NvListArray(vec![leaf(1, "/a"), leaf(2, "/b")]),
        );
        assert_eq!(leaves(&top).len(), 2);
        assert_eq!(find_guid(&top, 2).unwrap().path(), Some("/b"));
        assert_eq!(find_guid(&top, 2).unwrap().position, vec![1]);
        assert_eq!(guid_sum(100, &top), 113);
        node_at_mut(&mut top, &[0])
            .unwrap()
            .set("path", NvValue::String("/c".into()));
        assert_eq!(leaves(&top)[0].path(), Some("/c"));
    }
}
