//! What the documentation tests share: where the repository is, and the profile table of
//! `docs/simulator.md` read as a scenario's `[profile]`.

use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// docs/simulator.md's table `| field | study | study-literal |`, one column of it (2: study,
/// 3: study-literal) as TOML overrides on `base = "study"`.
pub fn profile_listing(column: usize) -> String {
    let mut listing = String::from("base = \"study\"\n");
    for line in read("docs/simulator.md").lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() == 5 && cells[1].starts_with('`') && cells[1] != "`study`" {
            let key = cells[1].trim_matches('`');
            let value = cells[column].split_whitespace().next().unwrap();
            let value = match value.strip_prefix('`') {
                Some(inner) => {
                    let inner = inner.trim_end_matches('`');
                    if inner.starts_with('"') {
                        inner.to_owned()
                    } else {
                        format!("\"{inner}\"")
                    }
                }
                None => value.to_owned(),
            };
            listing.push_str(&format!("{key} = {value}\n"));
        }
    }
    listing
}
