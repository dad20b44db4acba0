//! SCSI answers: sense data, INQUIRY, VPD 0x83, READ CAPACITY(16), REPORT LUNS.
#![no_main]
use kzrescue::source::iscsi::scsi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = scsi::parse_sense(data) {
        let _ = s.to_string();
    }
    let _ = scsi::parse_inquiry(data);
    if let Ok(ds) = scsi::parse_vpd83(data) {
        let _ = scsi::lu_names(&ds);
    }
    if let Ok(c) = scsi::parse_capacity16(data) {
        assert!(c.bytes().is_some());
    }
    let _ = scsi::parse_report_luns(data);
});
