//! Where a run took place: the machine, the build, the command, and the storage the servers ran
//! on. Figures differ between machines and builds; a report says which it came from.

use serde::{Deserialize, Serialize};

/// The run's machine and build (`report.environment`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub host: Host,
    /// The commit evbench was built from (`unknown` outside a git checkout).
    pub commit: String,
    /// Whether the checkout had uncommitted changes to tracked files when it was built
    /// (`true`, `false` or `unknown`).
    pub dirty: String,
    /// evbench's version.
    pub evbench: String,
    /// The compiler and profile of the build.
    pub rustc: String,
    pub profile: String,
    /// When the run started, RFC 3339 (UTC).
    pub started_at: String,
    /// The command line of the run.
    pub command: Vec<String>,
    /// The storage of the native servers' data (absent for other providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services_storage: Option<harness::StorageInfo>,
}

/// The machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// The host name.
    pub name: String,
    /// CPUs this process may use.
    pub cores: usize,
    /// The CPU model (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// Memory of the machine, bytes.
    pub memory_bytes: u64,
    /// The kernel (`uname -r`).
    pub kernel: String,
}

impl Environment {
    /// This machine and build; `started_at_ms` is the run's start (epoch ms).
    pub fn here(started_at_ms: i64, services_storage: Option<harness::StorageInfo>) -> Environment {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into())
        };
        Environment {
            host: Host {
                name: read("/proc/sys/kernel/hostname"),
                cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
                cpu_model: cpu_model(&read("/proc/cpuinfo")),
                memory_bytes: memory_bytes(&read("/proc/meminfo")),
                kernel: read("/proc/sys/kernel/osrelease"),
            },
            commit: env!("EVBENCH_BUILD_COMMIT").to_owned(),
            dirty: env!("EVBENCH_BUILD_DIRTY").to_owned(),
            evbench: env!("CARGO_PKG_VERSION").to_owned(),
            rustc: env!("EVBENCH_BUILD_RUSTC").to_owned(),
            profile: env!("EVBENCH_BUILD_PROFILE").to_owned(),
            started_at: format!(
                "{}Z",
                events::time::format_utc(started_at_ms).replace(' ', "T")
            ),
            command: std::env::args().collect(),
            services_storage,
        }
    }

    /// One line for people: `host, 2 cores (CPU), 23.4 GiB, commit 1a2b3c4d5e (dirty), …`.
    pub fn summary(&self) -> String {
        let short = self.commit.get(..10).unwrap_or(&self.commit);
        let dirty = if self.dirty == "true" { " (dirty)" } else { "" };
        let storage = self
            .services_storage
            .as_ref()
            .map(|s| format!(", servers on {}", s.summary()))
            .unwrap_or_default();
        format!(
            "{}, {} cores ({}), {:.1} GiB, {} build of commit {short}{dirty}{storage}",
            self.host.name,
            self.host.cores,
            self.host.cpu_model,
            self.host.memory_bytes as f64 / f64::from(1u32 << 30),
            self.profile,
        )
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes (0 when unknown).
fn memory_bytes(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// The first `model name` of `/proc/cpuinfo`.
fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_and_cpu_come_from_proc() {
        assert_eq!(
            memory_bytes("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
            24_576_000 * 1024
        );
        assert_eq!(memory_bytes("nothing"), 0);
        let cpuinfo = "processor\t: 0\nmodel name\t: Example CPU @ 2.0GHz\nflags\t: x\n";
        assert_eq!(cpu_model(cpuinfo), "Example CPU @ 2.0GHz");
        assert_eq!(cpu_model(""), "unknown");
    }

    #[test]
    fn the_build_is_known_in_a_checkout() {
        let here = Environment::here(0, None);
        assert!(here.host.cores >= 1);
        assert!(here.rustc.starts_with("rustc "), "{}", here.rustc);
        assert_eq!(here.started_at, "1970-01-01T00:00:00.000Z");
        // Built from a git checkout, the commit is a full hash; from a source tarball (Nix),
        // it is unknown.
        if here.commit != "unknown" {
            assert_eq!(here.commit.len(), 40, "{}", here.commit);
            assert!(["true", "false"].contains(&here.dirty.as_str()));
        }
    }
}
