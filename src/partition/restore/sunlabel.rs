//! A Sun disk label (SMI/VTOC) as a restore finds it among a device's
//! sectors: which of the two layouts it is, the geometry it declares, and
//! where Solaris keeps its backup copies for that geometry.

use crate::partition::vtoc;
use serde::Serialize;

/// A Sun disk label found on the device: magic `0xDABE` at byte 508 and the
/// XOR of all 16-bit words zero; big-endian VTOC_8 (SPARC SMI, in sector 0
/// of the disk) or little-endian VTOC_16 (x86, in sector 1 of the Solaris
/// fdisk partition, with the VTOC sanity word at byte 12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SunLabel {
    /// Absolute byte offset.
    pub at: u64,
    /// Whether this is an x86 (little-endian VTOC_16) label.
    pub x86: bool,
    /// Physical cylinders, heads, sectors per track the label declares.
    pub pcyl: u32,
    /// Data cylinders.
    pub ncyl: u32,
    /// Alternate cylinders.
    pub acyl: u32,
    /// Heads.
    pub nhead: u32,
    /// Sectors per track.
    pub nsect: u32,
    /// Alternate sectors per cylinder (SCSI; 0 on every disk seen).
    pub apc: u32,
    /// Whether this is where Solaris keeps a backup label for this geometry
    /// (odd sectors 1–9 of the last track of the last cylinder). Always
    /// false for x86 labels: their backups are counted from the start of
    /// the fdisk partition, which only the restore can infer.
    pub backup_position: bool,
    /// Whether it is sector 0.
    pub primary: bool,
    /// The label bytes.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// Whether `sector` is a sealed big-endian Sun label.
pub fn is_sun_label(sector: &[u8]) -> bool {
    sector.len() >= vtoc::LABEL_SIZE
        && sector[vtoc::MAGIC_OFFSET..vtoc::MAGIC_OFFSET + 2] == vtoc::DKL_MAGIC.to_be_bytes()
        && xor_zero(sector)
}

/// Whether `sector` is a sealed little-endian (x86 VTOC_16) Sun label with
/// the VTOC sanity word.
pub fn is_x86_sun_label(sector: &[u8]) -> bool {
    sector.len() >= vtoc::LABEL_SIZE
        && sector[vtoc::MAGIC_OFFSET..vtoc::MAGIC_OFFSET + 2] == vtoc::DKL_MAGIC.to_le_bytes()
        && vtoc::is_x86_vtoc(sector)
        && xor_zero(sector)
}

/// The XOR of all 16-bit words of the 512-byte label is zero (in either
/// byte order, since swapping bytes commutes with XOR).
fn xor_zero(sector: &[u8]) -> bool {
    sector[..vtoc::LABEL_SIZE]
        .chunks_exact(2)
        .fold(0u16, |a, w| a ^ u16::from_be_bytes([w[0], w[1]]))
        == 0
}

/// Decodes the geometry of a Sun label at `at` and says whether `at` is a
/// backup-label position for it.
pub fn sun_label(sector: &[u8], at: u64) -> Option<SunLabel> {
    let x86 = if is_sun_label(sector) {
        false
    } else if is_x86_sun_label(sector) {
        true
    } else {
        return None;
    };
    let u16be = |o: usize| u32::from(u16::from_be_bytes([sector[o], sector[o + 1]]));
    let u16le = |o: usize| u32::from(u16::from_le_bytes([sector[o], sector[o + 1]]));
    let u32le =
        |o: usize| u32::from_le_bytes([sector[o], sector[o + 1], sector[o + 2], sector[o + 3]]);
    let (pcyl, ncyl, acyl, nhead, nsect, apc) = if x86 {
        // VTOC_16: dk_vtoc (456 bytes), then pcyl, ncyl (u32), acyl, bcyl
        // (u16), nhead, nsect (u32), intrlv, skew, apc (u16).
        (
            u32le(456),
            u32le(460),
            u16le(464),
            u32le(468),
            u32le(472),
            u16le(480),
        )
    } else {
        // VTOC_8: rpm, pcyl, apc, obs1, obs2, intrlv, ncyl, acyl, nhead,
        // nsect (u16) from byte 420.
        (
            u16be(422),
            u16be(432),
            u16be(434),
            u16be(436),
            u16be(438),
            u16be(424),
        )
    };
    let backup_position = !x86
        && backup_label_sectors(ncyl, acyl, nhead, nsect, apc)
            .is_some_and(|s| s.iter().any(|&x| x * vtoc::LABEL_SIZE as u64 == at));
    Some(SunLabel {
        at,
        x86,
        pcyl,
        ncyl,
        acyl,
        nhead,
        nsect,
        apc,
        backup_position,
        primary: at == 0,
        bytes: sector[..vtoc::LABEL_SIZE].to_vec(),
    })
}

/// The sectors where Solaris writes the five backup copies of a Sun label,
/// counted from the start of the labelled area (the disk on SPARC, the
/// Solaris fdisk partition on x86): sectors 1, 3, 5, 7, 9 of the last track
/// (head `nhead − 1`) of the last cylinder (`ncyl + acyl − 1`), cylinders
/// being `nhead × nsect − apc` sectors long (illumos cmlb, `cmlb_set_vtoc`).
pub fn backup_label_sectors(
    ncyl: u32,
    acyl: u32,
    nhead: u32,
    nsect: u32,
    apc: u32,
) -> Option<[u64; 5]> {
    let spc = u64::from(nhead) * u64::from(nsect);
    if nhead == 0 || nsect < 10 || u64::from(ncyl) + u64::from(acyl) == 0 || u64::from(apc) >= spc {
        return None;
    }
    let cyl = u64::from(ncyl) + u64::from(acyl) - 1;
    let base = cyl
        .checked_mul(spc - u64::from(apc))?
        .checked_add(u64::from(nhead - 1) * u64::from(nsect))
        .filter(|b| b.checked_add(9).is_some())?;
    Some([base + 1, base + 3, base + 5, base + 7, base + 9])
}
