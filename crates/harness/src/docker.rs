//! The docker provider: containers, where a Docker engine answers.
//!
//! Machines without an engine (a `docker` client alone is not enough) get a clear reason and
//! the callers skip; nothing here pretends a container ran.

use std::process::Command;

use crate::Error;

/// Why docker cannot be used here, or `None` when an engine answers.
pub fn engine_problem() -> Option<String> {
    match Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
    {
        Err(e) => Some(format!("no docker client ({e})")),
        Ok(out) if out.status.success() && !out.stdout.trim_ascii().is_empty() => None,
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let first = stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no answer");
            Some(format!("no Docker engine answers: {}", first.trim()))
        }
    }
}

/// The error for a docker request on this machine.
pub(crate) fn unavailable_reason() -> Error {
    match engine_problem() {
        Some(reason) => Error::DockerUnavailable(reason),
        None => Error::DockerUnavailable(
            "a Docker engine answers, but this build of evbench has no container support yet; use --provider native or external"
                .into(),
        ),
    }
}
