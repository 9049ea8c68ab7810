//! Writes the component's `package-docs` custom section (into `OUT_DIR`;
//! `bindings.rs` links it in), so tools that print a component's WIT
//! (`wasm-tools component wit`, `jco wit`, `jco types`) show the contract's
//! docs, not bare names.
//!
//! Neither wit-bindgen nor `wasm-component-ld` writes this section: only a
//! WIT *package* carries one (`wit_component::encode`). In a component,
//! decoders apply it to the component's own package, `root:component`, whose
//! world `root` holds the component's imports and exports. So the section
//! documents that world: its docs are the contract world's, and each export
//! carries its interface's docs. Imports get none, since a component has only
//! those it uses, and a section naming another fails the decoder. (Per-item
//! docs of `oomnitza:connector` live in the contract's package, which
//! `cargo run -p oomnitza-connect --example wit-package` builds.)

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;

use wit_parser::{PackageMetadata, Resolve, WorldItem, WorldKey};

/// The contract this connector implements; the same folder as the
/// `wit_bindgen::generate!` in `src/bindings.rs`.
const CONTRACT: &str = "../wit/since_v0.4.0";

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join(CONTRACT);
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve.push_dir(&dir)?;
    let world = resolve.select_world(&[pkg], Some("user-connector"))?;

    // The component's world, in WIT, with the docs.
    let mut wit = String::from("package root:component;\n\n");
    doc(&mut wit, "", resolve.worlds[world].docs.contents.as_deref());
    wit.push_str("world root {\n");
    for (key, item) in &resolve.worlds[world].exports {
        if let (WorldKey::Interface(id), WorldItem::Interface { .. }) = (key, item) {
            let docs = resolve.interfaces[*id].docs.contents.as_deref();
            doc(&mut wit, "    ", docs);
            writeln!(wit, "    export {};", resolve.name_world_key(key))?;
        }
    }
    wit.push_str("}\n");
    let root = resolve.push_str("root.wit", &wit)?;

    let section = PackageMetadata::extract(&resolve, root).encode()?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("package-docs.bin"), &section)?;
    std::fs::write(
        out.join("package_docs.rs"),
        format!(
            "/// The `package-docs` custom section (written by `build.rs`).\n\
             #[unsafe(link_section = \"package-docs\")]\n\
             #[used]\n\
             static PACKAGE_DOCS: [u8; {}] = *include_bytes!(concat!(env!(\"OUT_DIR\"), \"/package-docs.bin\"));\n",
            section.len()
        ),
    )?;
    Ok(())
}

/// `docs` as `///` lines, indented.
fn doc(wit: &mut String, indent: &str, docs: Option<&str>) {
    for line in docs.unwrap_or_default().lines() {
        wit.push_str(indent);
        wit.push_str("///");
        if !line.is_empty() {
            wit.push(' ');
            wit.push_str(line);
        }
        wit.push('\n');
    }
}
