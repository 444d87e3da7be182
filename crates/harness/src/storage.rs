//! Where the native servers keep their data, and what kind of storage that is.
//!
//! Each native server writes into its own temporary directory under the *services directory*:
//! `EVBENCH_SERVICES_DIR` when set, else the system's temporary directory. The storage shows in
//! the figures: ClickHouse writes a part of some 40–80 files per insert and per merge, and on an
//! ext4 without a journal every new file skips the inodes deleted in the last 60–300 s (the
//! kernel's `recently_deleted`), which made a 10-row insert take 66 ms on such a disk against
//! 10 ms on tmpfs here. Reports therefore say which file system the servers ran on.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The environment variable naming the services directory.
pub const SERVICES_DIR_ENV: &str = "EVBENCH_SERVICES_DIR";

/// The services directory: `EVBENCH_SERVICES_DIR`, else the system's temporary directory.
pub fn services_dir() -> PathBuf {
    std::env::var_os(SERVICES_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// The storage a directory lives on, as far as Linux tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageInfo {
    /// The directory.
    pub path: String,
    /// The file system type (`ext4`, `xfs`, `tmpfs`, …), or `unknown`.
    pub filesystem: String,
    /// Its mount point.
    pub mount_point: String,
    /// For ext4: whether it has a journal (without one, file creation slows down after many
    /// deletions). `None` where this is not known or does not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<bool>,
}

impl StorageInfo {
    /// A short description, e.g. `ext4 (no journal) at /`.
    pub fn summary(&self) -> String {
        let journal = match self.journal {
            Some(true) => " (journal)",
            Some(false) => " (no journal)",
            None => "",
        };
        format!("{}{journal} at {}", self.filesystem, self.mount_point)
    }
}

/// Describes the storage of `path` from `/proc/self/mounts` (the mount point that is the
/// longest prefix of the canonical path) and, for ext4, `/proc/fs/jbd2`.
pub fn describe(path: &Path) -> StorageInfo {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let (device, mount_point, filesystem) = mount_of(&mounts, &canonical).unwrap_or_default();
    let journal = (filesystem == "ext4")
        .then(|| ext4_has_journal(&device))
        .flatten();
    StorageInfo {
        path: canonical.display().to_string(),
        filesystem: if filesystem.is_empty() {
            "unknown".into()
        } else {
            filesystem
        },
        mount_point,
        journal,
    }
}

/// The (device, mount point, type) of the mount holding `path`.
fn mount_of(mounts: &str, path: &Path) -> Option<(String, String, String)> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let device = fields.next()?;
            // Spaces in mount points are written as \040.
            let mount_point = fields.next()?.replace("\\040", " ");
            let filesystem = fields.next()?;
            Some((device.to_owned(), mount_point, filesystem.to_owned()))
        })
        .filter(|(_, mount_point, _)| path.starts_with(mount_point))
        // The last of the longest: a later mount over the same point hides the earlier one.
        .fold(
            None,
            |best: Option<(String, String, String)>, m| match &best {
                Some(b) if b.1.len() > m.1.len() => best,
                _ => Some(m),
            },
        )
}

/// An ext4 file system has a journal when jbd2 lists its device (`/proc/fs/jbd2/vda-8`).
fn ext4_has_journal(device: &str) -> Option<bool> {
    let name = Path::new(device).file_name()?.to_str()?.to_owned();
    let entries = std::fs::read_dir("/proc/fs/jbd2").ok()?;
    let names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    Some(names.iter().any(|n| n.starts_with(&format!("{name}-"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
tmpfs /dev/shm tmpfs rw 0 0
/dev/vdb /data xfs rw 0 0
tmpfs /data/fast\\040dir tmpfs rw 0 0
";

    #[test]
    fn the_longest_mount_point_holding_the_path_wins() {
        let of = |p: &str| mount_of(MOUNTS, Path::new(p)).map(|(_, m, t)| (m, t));
        assert_eq!(of("/tmp/x"), Some(("/".into(), "ext4".into())));
        assert_eq!(
            of("/dev/shm/evbench"),
            Some(("/dev/shm".into(), "tmpfs".into()))
        );
        assert_eq!(of("/data/db"), Some(("/data".into(), "xfs".into())));
        assert_eq!(
            of("/data/fast dir/x"),
            Some(("/data/fast dir".into(), "tmpfs".into()))
        );
        // A path component is not a prefix match: /database is on /.
        assert_eq!(of("/database"), Some(("/".into(), "ext4".into())));
    }

    #[test]
    fn summaries_say_the_file_system_and_journal() {
        let info = StorageInfo {
            path: "/tmp".into(),
            filesystem: "ext4".into(),
            mount_point: "/".into(),
            journal: Some(false),
        };
        assert_eq!(info.summary(), "ext4 (no journal) at /");
        let here = describe(&std::env::temp_dir());
        assert!(!here.mount_point.is_empty(), "{here:?}");
    }
}
