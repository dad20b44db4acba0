//! RAID-Z: how a block is laid out over the children of a raidz vdev, and
//! how a missing or damaged column is rebuilt from parity.
//!
//! A block of `s` sectors (its size rounded up to the vdev's sector) starting
//! at sector `b` of the raidz vdev begins on child `b mod n`, at sector
//! `b / n` of that child. It is cut into columns: `nparity` parity columns
//! first, then data columns; the first `s mod (n − nparity)` data columns
//! hold one sector more than the rest. Columns wrap to the next row on the
//! children after the last. RAID-Z1 swaps the first two columns when bit 20
//! of the offset is set (a historical wear-levelling quirk). Parity P is the
//! XOR of the data columns, Q and R are Reed–Solomon syndromes with
//! generators 2 and 4 over GF(2^8) (polynomial 0x11d), shorter columns
//! counted as zero-padded.

use crate::error::{Error, Result};
use crate::zfs::leaf::LABEL_START;

/// One column of a raidz block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Child index.
    pub child: usize,
    /// Byte offset on the child (within its allocatable area).
    pub offset: u64,
    /// Bytes in this column.
    pub size: usize,
}

/// Layout of one block: parity columns then data columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Map {
    /// Number of parity columns at the front of `cols`.
    pub nparity: usize,
    /// All columns.
    pub cols: Vec<Column>,
}

/// Computes the column map for `size` bytes at `offset` on a raidz vdev of
/// `dcols` children with `nparity` parity and sector shift `ashift`.
pub fn map(offset: u64, size: u64, dcols: usize, nparity: usize, ashift: u32) -> Map {
    let unit = 1u64 << ashift;
    let b = offset >> ashift;
    let s = size.div_ceil(unit);
    let dc = dcols as u64;
    let f = b % dc;
    let o = (b / dc) << ashift;
    let ndata = dc - nparity as u64;
    let q = s / ndata;
    let r = s - q * ndata;
    let bc = if r == 0 { 0 } else { r + nparity as u64 };
    let (acols, scols) = if q == 0 {
        (
            bc,
            dc.min(bc.div_ceil(nparity as u64 + 1) * (nparity as u64 + 1)),
        )
    } else {
        (dc, dc)
    };
    let mut cols = Vec::with_capacity(scols as usize);
    for c in 0..scols {
        let mut col = f + c;
        let mut coff = o;
        if col >= dc {
            col -= dc;
            coff += unit;
        }
        let sz = if c >= acols {
            0
        } else if c < bc {
            (q + 1) << ashift
        } else {
            q << ashift
        };
        cols.push(Column {
            child: col as usize,
            offset: coff,
            size: sz as usize,
        });
    }
    if nparity == 1 && offset & (1 << 20) != 0 && cols.len() >= 2 {
        let (c0, o0) = (cols[0].child, cols[0].offset);
        cols[0].child = cols[1].child;
        cols[0].offset = cols[1].offset;
        cols[1].child = c0;
        cols[1].offset = o0;
    }
    // Columns past `acols` are skip sectors, written for allocation
    // alignment only; they take no part in parity.
    cols.truncate(acols as usize);
    Map { nparity, cols }
}

/// Multiplication in GF(2^8) with polynomial x^8+x^4+x^3+x^2+1.
fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1d;
        }
        b >>= 1;
    }
    p
}

fn gf_pow(base: u8, e: usize) -> u8 {
    let mut r = 1u8;
    for _ in 0..e {
        r = gf_mul(r, base);
    }
    r
}

fn gf_inv(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8)
    gf_pow(a, 254)
}

/// Coefficient of data column `i` (of `ndata`) in parity row `p` (0=P, 1=Q, 2=R).
fn coef(p: usize, i: usize, ndata: usize) -> u8 {
    let g = [1u8, 2, 4][p];
    gf_pow(g, ndata - 1 - i)
}

/// Computes parity column `p` from data columns (shorter ones zero-padded).
pub fn parity(p: usize, data: &[Vec<u8>], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (i, d) in data.iter().enumerate() {
        let c = coef(p, i, data.len());
        for (o, x) in out.iter_mut().zip(d.iter()) {
            *o ^= gf_mul(*x, c);
        }
    }
    out
}

/// Rebuilds the data columns listed in `lost` (indices into `data`) from
/// the available parity columns `par` (index p → bytes). Every lost column
/// must already have its correct length; its contents are overwritten.
fn rebuild(data: &mut [Vec<u8>], lost: &[usize], par: &[(usize, &[u8])]) -> bool {
    let k = lost.len();
    if k == 0 {
        return true;
    }
    if par.len() < k {
        return false;
    }
    let par = &par[..k];
    let ndata = data.len();
    let plen = par.iter().map(|(_, b)| b.len()).max().unwrap_or(0);
    // syndromes: parity minus known data contributions
    let mut syn: Vec<Vec<u8>> = par.iter().map(|(_, b)| b.to_vec()).collect();
    for (row, (p, _)) in par.iter().enumerate() {
        for (i, d) in data.iter().enumerate() {
            if lost.contains(&i) {
                continue;
            }
            let c = coef(*p, i, ndata);
            for (s, x) in syn[row].iter_mut().zip(d.iter()) {
                *s ^= gf_mul(*x, c);
            }
        }
    }
    for pos in 0..plen {
        // unknowns at this byte: lost columns long enough to have it
        let unk: Vec<usize> = lost
            .iter()
            .copied()
            .filter(|&i| pos < data[i].len())
            .collect();
        let m = unk.len();
        if m == 0 {
            continue;
        }
        // m×m system from the first m parity rows
        let mut a = vec![vec![0u8; m + 1]; m];
        for r in 0..m {
            for (c, &i) in unk.iter().enumerate() {
                a[r][c] = coef(par[r].0, i, ndata);
            }
            a[r][m] = syn[r].get(pos).copied().unwrap_or(0);
        }
        // Gaussian elimination
        for c in 0..m {
            let Some(piv) = (c..m).find(|&r| a[r][c] != 0) else {
                return false;
            };
            a.swap(c, piv);
            let inv = gf_inv(a[c][c]);
            for x in a[c].iter_mut() {
                *x = gf_mul(*x, inv);
            }
            for r in 0..m {
                if r != c && a[r][c] != 0 {
                    let f = a[r][c];
                    let pivot_row = a[c].clone();
                    for (x, v) in a[r].iter_mut().zip(pivot_row) {
                        *x ^= gf_mul(v, f);
                    }
                }
            }
        }
        for (c, &i) in unk.iter().enumerate() {
            data[i][pos] = a[c][m];
        }
    }
    true
}

/// Every `k`-subset of `0..n`.
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    fn go(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..n {
            cur.push(i);
            go(i + 1, n, k, cur, out);
            cur.pop();
        }
    }
    go(0, n, k, &mut cur, &mut out);
    out
}

/// Reads one column: (child index, offset in its allocatable space,
/// length) → bytes. The child may be a leaf or a vdev of its own (a
/// "replacing" or "spare" under the raidz); the caller knows which.
pub type ColumnReader<'a> = dyn Fn(usize, u64, usize) -> Result<Vec<u8>> + 'a;

/// Reads `size` bytes at `offset` of a raidz vdev of `children` children;
/// tries the plain data columns first, then parity rebuilds, accepting the
/// first result `ok` approves. `read_col(child, offset, len)` reads one
/// column.
pub fn read(
    children: usize,
    nparity: usize,
    ashift: u32,
    offset: u64,
    size: usize,
    ok: &dyn Fn(&[u8]) -> bool,
    read_col: &ColumnReader<'_>,
) -> Result<Vec<u8>> {
    let m = map(offset, size as u64, children, nparity, ashift);
    let mut cols: Vec<Option<Vec<u8>>> = Vec::with_capacity(m.cols.len());
    let mut errs = Vec::new();
    for c in &m.cols {
        if c.size == 0 {
            cols.push(Some(Vec::new()));
            continue;
        }
        if c.child >= children {
            cols.push(None);
            continue;
        }
        match read_col(c.child, c.offset, c.size) {
            Ok(d) => cols.push(Some(d)),
            Err(e) => {
                errs.push(format!("child {}: {e}", c.child));
                cols.push(None);
            }
        }
    }
    let np = nparity.min(m.cols.len());
    let ndata = m.cols.len() - np;
    let assemble = |data: &[Vec<u8>]| -> Vec<u8> {
        let mut out = Vec::with_capacity(size);
        for d in data {
            out.extend_from_slice(d);
        }
        out.truncate(size);
        out
    };
    let data_sizes: Vec<usize> = m.cols[np..].iter().map(|c| c.size).collect();
    let missing: Vec<usize> = (0..ndata).filter(|&i| cols[np + i].is_none()).collect();
    let parity_avail: Vec<(usize, &[u8])> = (0..np)
        .filter_map(|p| cols[p].as_deref().map(|b| (p, b)))
        .collect();
    let base: Vec<Vec<u8>> = (0..ndata)
        .map(|i| {
            cols[np + i]
                .clone()
                .unwrap_or_else(|| vec![0u8; data_sizes[i]])
        })
        .collect();
    // 1. all data present: as read
    if missing.is_empty() {
        let out = assemble(&base);
        if ok(&out) {
            return Ok(out);
        }
    }
    // 2. rebuild the missing columns, plus up to (parity left) suspects
    let spare = parity_avail.len().saturating_sub(missing.len());
    for extra in 0..=spare {
        let candidates: Vec<usize> = (0..ndata).filter(|i| !missing.contains(i)).collect();
        for sub in subsets(candidates.len(), extra) {
            if extra == 0 && missing.is_empty() {
                continue;
            }
            let mut lost = missing.clone();
            lost.extend(sub.iter().map(|&j| candidates[j]));
            let mut data = base.clone();
            // try every choice of parity rows that can solve it
            for rows in subsets(parity_avail.len(), lost.len()) {
                let par: Vec<(usize, &[u8])> = rows.iter().map(|&r| parity_avail[r]).collect();
                if rebuild(&mut data, &lost, &par) {
                    let out = assemble(&data);
                    if ok(&out) {
                        return Ok(out);
                    }
                }
            }
        }
    }
    Err(Error::corrupt(
        "raidz block",
        offset + LABEL_START,
        format!(
            "{} of {} data columns unreadable, {} parity available, no reconstruction verifies{}{}",
            missing.len(),
            ndata,
            parity_avail.len(),
            if errs.is_empty() { "" } else { ": " },
            errs.join("; ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn map_full_rows() {
        // 5 children raidz1, 8 sectors at sector 7
        let m = map(7 << 9, 8 << 9, 5, 1, 9);
        assert_eq!(m.cols.len(), 5);
        assert_eq!(m.cols[0].child, 2);
        assert_eq!(m.cols[0].offset, 1 << 9);
        assert_eq!(m.cols[3].child, 0);
        assert_eq!(m.cols[3].offset, 2 << 9);
        assert_eq!(m.cols.iter().map(|c| c.size).sum::<usize>(), (8 + 2) << 9);
    }

    #[test]
    fn map_small_block() {
        // 1 sector on raidz2 of 6: p, q and 1 data column
        let m = map(0, 512, 6, 2, 9);
        assert_eq!(m.cols.len(), 3);
        assert!(m.cols.iter().all(|c| c.size == 512));
    }

    proptest! {
        #[test]
        fn rebuild_any_lost_columns(
            ndata in 2usize..7,
            np in 1usize..4,
            seed in any::<u64>(),
            lens_extra in 0usize..3,
        ) {
            let mut x = seed | 1;
            let mut rnd = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 };
            let long = 8 + lens_extra;
            let data: Vec<Vec<u8>> = (0..ndata)
                .map(|i| (0..if i < 1 { long } else { 8 }).map(|_| rnd()).collect())
                .collect();
            let pars: Vec<Vec<u8>> = (0..np).map(|p| parity(p, &data, long)).collect();
            for k in 1..=np.min(ndata) {
                for lost in subsets(ndata, k) {
                    let mut d = data.clone();
                    for &i in &lost { d[i].iter_mut().for_each(|b| *b = 0xee); }
                    let par: Vec<(usize, &[u8])> = pars.iter().enumerate().map(|(p, b)| (p, b.as_slice())).collect();
                    prop_assert!(rebuild(&mut d, &lost, &par[par.len() - k..]));
                    prop_assert_eq!(&d, &data);
                }
            }
        }
    }
}
