//! Embeds the built operator console (`console/dist`, made by `npm run build`
//! in `console/`) into the binary. Without it, the binary still builds and the
//! console's address answers with a page saying how to build it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let dist = root.join("console").join("dist");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("out dir")).join("console_assets.rs");
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        println!("cargo:rerun-if-changed={}", dist.display());
        collect(&dist, &dist, &mut files);
    } else {
        // Notices the console's first build without scanning on every build.
        println!("cargo:rerun-if-changed={}", root.join("console").display());
    }
    files.sort();
    let mut code =
        String::from("/// The console's files: path below `dist/`, bytes.\npub static ASSETS: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        writeln!(code, "    ({name:?}, include_bytes!({:?})),", path.display().to_string()).expect("write");
    }
    code.push_str("];\n");
    std::fs::write(out, code).expect("writing console_assets.rs");
}

fn collect(base: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(base, &path, files);
        } else if let Ok(rel) = path.strip_prefix(base) {
            let name = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>();
            files.push((name.join("/"), path));
        }
    }
}
