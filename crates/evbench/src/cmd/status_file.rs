//! Small files a service writes for its supervisor (readiness, counters): written whole to a
//! temporary name and renamed, so a reader never sees half a file.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

/// Replaces `path` with `text`.
pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Replaces `path` with `value` as JSON.
pub fn write_json(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("counters as JSON")?;
    write(path, &text)
}
