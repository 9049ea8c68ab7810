//! Builds the contract's publishable WIT package: the WIT of
//! `wit/since_vX.Y.Z/` (deps included) encoded as a WebAssembly package
//! with its docs (`package-docs`), what `wasm-tools component wit
//! wit/since_vX.Y.Z --wasm -o …` writes and what `wkg publish` uploads.
//! It uses the same code (`wit_component::encode`), without installing
//! the CLI.
//!
//! ```sh
//! cargo run -p oomnitza-connect --example wit-package            # every folder
//! cargo run -p oomnitza-connect --example wit-package -- 0.3.0   # one version
//! ```
//!
//! Writes `target/wit/oomnitza-connector@X.Y.Z.wasm` and prints its path and
//! sha256. The package is decoded back before it is written, so a package
//! that would not read back is never produced.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

fn main() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let wit = root.join("wit");
    let mut versions: Vec<String> = std::env::args().skip(1).collect();
    if versions.is_empty() {
        for entry in std::fs::read_dir(&wit)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(v) = name.strip_prefix("since_v") {
                versions.push(v.to_string());
            }
        }
        versions.sort();
    }
    let out_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("wit");
    std::fs::create_dir_all(&out_dir)?;
    for v in versions {
        let dir = wit.join(format!("since_v{v}"));
        let bytes = package(&dir)?;
        let out = out_dir.join(format!("oomnitza-connector@{v}.wasm"));
        std::fs::write(&out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
        println!("{}  {}", hex::encode(Sha256::digest(&bytes)), out.display());
    }
    Ok(())
}

/// The WIT package in `dir`, encoded, after checking it reads back as the
/// same package with its docs.
fn package(dir: &std::path::Path) -> Result<Vec<u8>> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve
        .push_dir(dir)
        .with_context(|| format!("cannot parse the WIT in {}", dir.display()))?;
    let bytes = wit_component::encode(&resolve, pkg, false)?;
    let wit_component::DecodedWasm::WitPackage(back, back_pkg) = wit_component::decode(&bytes)?
    else {
        bail!("{} did not encode as a WIT package", dir.display());
    };
    if back.packages[back_pkg].name != resolve.packages[pkg].name {
        bail!("{} read back as another package", dir.display());
    }
    Ok(bytes)
}
