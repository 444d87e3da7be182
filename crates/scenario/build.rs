//! Records what the report's `environment` says about the build: the commit, whether the tree
//! had changes, and the compiler.

use std::path::Path;
use std::process::Command;

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let root = Path::new(&manifest).join("../..");
    // Any change to the sources or to what git has recorded re-runs this script.
    for watched in ["crates", "engines", ".git/HEAD", ".git/index", ".git/refs"] {
        let path = root.join(watched);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let commit = git(&root, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&root, &["status", "--porcelain", "--untracked-files=no"])
        .map(|changes| if changes.is_empty() { "false" } else { "true" })
        .unwrap_or("unknown");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=EVBENCH_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=EVBENCH_BUILD_DIRTY={dirty}");
    println!("cargo:rustc-env=EVBENCH_BUILD_RUSTC={rustc_version}");
    println!(
        "cargo:rustc-env=EVBENCH_BUILD_PROFILE={}",
        std::env::var("PROFILE").unwrap_or_default()
    );
}
