//! Writes a synthetic pool (tests/common/synthpool.rs) whose head file system holds
//! N small files in directories of 1000, for bench/manifest-many.sh:
//!
//!     cargo run --release --example synth-many -- OUT.img N
//!
//! Every file is 100–500 bytes of its own content in one 512-byte-record
//! block (so each is read, checksum-verified and hashed).
#[path = "../tests/common/synthpool.rs"]
#[allow(clippy::all)]
mod synthpool;

use synthpool::{Fs, Node, ROOT, Spec};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(out), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: synth-many OUT.img NFILES");
        std::process::exit(2);
    };
    let per_dir = 1000u64;
    let dirs = n.div_ceil(per_dir);
    let mut fs = Fs::default();
    let mut next = ROOT + 1;
    let mut root = Vec::new();
    let mut left = n;
    for d in 0..dirs {
        let dobj = next;
        next += 1;
        root.push((format!("d{d:04}"), dobj));
        let mut ents = Vec::new();
        for f in 0..per_dir.min(left) {
            let obj = next;
            next += 1;
            let len = 100 + (obj % 400) as usize;
            let data: Vec<u8> = (0..len).map(|i| (obj as usize * 31 + i) as u8).collect();
            fs.objects.insert(obj, Node::File(data, 512));
            ents.push((format!("file-{f:04}.dat"), obj));
        }
        left -= ents.len() as u64;
        fs.objects.insert(dobj, Node::Dir(ents));
    }
    fs.objects.insert(ROOT, Node::Dir(root));
    // dnodes (512 B), data blocks (512 B), ZAPs and indirect blocks
    let size = (8 << 20) + n as usize * 1200 + dirs as usize * 140_000;
    let spec = Spec {
        fs,
        size: size.next_multiple_of(1 << 20),
        ..Spec::default()
    };
    let img = spec.build();
    std::fs::write(out, &img).unwrap_or_else(|e| {
        eprintln!("write {out}: {e}");
        std::process::exit(1);
    });
    eprintln!(
        "{out}: {n} files in {dirs} directories, {} bytes",
        img.len()
    );
}
