//! Where installed servers keep their parts, as each kind of install lays them out.
//!
//! Kafka's jars are looked for, in order, in
//! 1. `$EVBENCH_KAFKA_LIBS` (a directory of jars: set it and nothing else is tried);
//! 2. `$KAFKA_HOME/libs` (the Apache tarball, Homebrew's `libexec`, …);
//! 3. `../libs` next to a `kafka-server-start.sh` or `kafka-storage.sh` found on `PATH`
//!    (symbolic links followed: a Nix profile, `/usr/local/bin` links into an install);
//! 4. `ci/setup`'s cache, `$EVBENCH_CACHE/kafka-<version>/libs`.
//!
//! A directory counts when it holds Kafka's server jar (`kafka_<scala>-<version>.jar`); the
//! version the servers report is read from that jar's name. A scenario that names a version
//! (`[services.kafka] version`) skips the search and takes `ci/setup`'s cache of that version
//! ([`kafka_libs_of_version`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// How the Kafka jars were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaLibs {
    pub dir: PathBuf,
    /// Which of the places above it was, for logs and errors.
    pub found_by: &'static str,
    /// The release, from the server jar's name (`kafka_2.13-4.4.0.jar` → `4.4.0`).
    pub version: String,
}

/// Why no Kafka jars were found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaLibsError {
    /// `$EVBENCH_KAFKA_LIBS` is set (nothing else is then tried) to a directory without the
    /// server jar.
    #[error(
        "EVBENCH_KAFKA_LIBS is {}, which holds no Kafka server jar (kafka_2.13-*.jar)",
        dir.display()
    )]
    NoServerJar { dir: PathBuf },
    /// None of the places holds them; `looked` says each and what was there.
    #[error(
        "Kafka's jars not found; looked at {} — run ci/setup, or set EVBENCH_KAFKA_LIBS or KAFKA_HOME",
        looked.join(", ")
    )]
    NotFound { looked: Vec<String> },
    /// A version was asked for whose jars `ci/setup` has not fetched.
    #[error(
        "Kafka {version}'s jars are not in {} — fetch them with `EVBENCH_KAFKA_VERSIONS={version} ci/setup`",
        dir.display()
    )]
    VersionNotFetched { version: String, dir: PathBuf },
}

/// `ci/setup`'s cache of `version`'s jars, for a scenario that names its Kafka release.
pub fn kafka_libs_of_version(version: &str) -> Result<KafkaLibs, KafkaLibsError> {
    let dir = crate::native::cache_dir()
        .join(format!("kafka-{version}"))
        .join("libs");
    match server_jar_version(&dir) {
        Some(found) if found == version => Ok(KafkaLibs {
            dir,
            found_by: "[services.kafka] version",
            version: found,
        }),
        _ => Err(KafkaLibsError::VersionNotFetched {
            version: version.to_owned(),
            dir,
        }),
    }
}

/// What the lookup reads from its surroundings (the process's in [`find_kafka_libs`], fake
/// trees in tests).
pub(crate) struct Surroundings<'a> {
    pub var: &'a dyn Fn(&str) -> Option<OsString>,
    pub cache: PathBuf,
}

/// Finds the Kafka jars of this machine, or says every place it looked.
pub fn find_kafka_libs() -> Result<KafkaLibs, KafkaLibsError> {
    let var = |name: &str| std::env::var_os(name);
    find(&Surroundings {
        var: &var,
        cache: crate::native::cache_dir()
            .join(format!("kafka-{}", crate::native::KAFKA_VERSION))
            .join("libs"),
    })
}

pub(crate) fn find(s: &Surroundings<'_>) -> Result<KafkaLibs, KafkaLibsError> {
    if let Some(dir) = (s.var)("EVBENCH_KAFKA_LIBS") {
        let dir = PathBuf::from(dir);
        return libs_in(&dir, "EVBENCH_KAFKA_LIBS").ok_or(KafkaLibsError::NoServerJar { dir });
    }
    let mut looked = vec!["EVBENCH_KAFKA_LIBS (unset)".to_owned()];
    match (s.var)("KAFKA_HOME") {
        Some(home) => {
            let dir = PathBuf::from(home).join("libs");
            if let Some(found) = libs_in(&dir, "KAFKA_HOME") {
                return Ok(found);
            }
            looked.push(format!("{} (KAFKA_HOME: no server jar)", dir.display()));
        }
        None => looked.push("KAFKA_HOME (unset)".to_owned()),
    }
    let path = (s.var)("PATH").unwrap_or_default();
    let scripts: Vec<PathBuf> = std::env::split_paths(&path)
        .flat_map(|bin| ["kafka-server-start.sh", "kafka-storage.sh"].map(|name| bin.join(name)))
        .filter(|script| script.is_file())
        .collect();
    for script in &scripts {
        // The script itself may be a link into the install; its `bin/` is beside `libs/`.
        let real = std::fs::canonicalize(script).unwrap_or_else(|_| script.clone());
        if let Some(dir) = real.parent().and_then(Path::parent).map(|i| i.join("libs")) {
            if let Some(found) = libs_in(&dir, "kafka-server-start.sh on PATH") {
                return Ok(found);
            }
            looked.push(format!("{} (beside {})", dir.display(), script.display()));
        }
    }
    if scripts.is_empty() {
        looked.push("kafka-server-start.sh on PATH (none)".to_owned());
    }
    if let Some(found) = libs_in(&s.cache, "the ci/setup cache") {
        return Ok(found);
    }
    looked.push(format!("{} (ci/setup's cache: absent)", s.cache.display()));
    Err(KafkaLibsError::NotFound { looked })
}

/// The jars in `dir`, when it holds Kafka's server jar.
fn libs_in(dir: &Path, found_by: &'static str) -> Option<KafkaLibs> {
    Some(KafkaLibs {
        dir: dir.to_owned(),
        found_by,
        version: server_jar_version(dir)?,
    })
}

/// The release of the server jar in `dir` (`kafka_2.13-4.1.1.jar` → `4.1.1`; not
/// `kafka-clients-…`, test or source jars), if there is one.
fn server_jar_version(dir: &Path) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_prefix("kafka_")?.strip_suffix(".jar")?;
            if stem.contains("-test") || stem.contains("-sources") {
                return None;
            }
            // `2.13-4.1.1`: the Scala version, then Kafka's.
            let (_scala, version) = stem.split_once('-')?;
            Some(version.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A fake install: `root/<install>/bin/kafka-server-start.sh` and `root/<install>/libs/`.
    fn install(root: &Path, name: &str, with_jar: bool) -> PathBuf {
        let home = root.join(name);
        std::fs::create_dir_all(home.join("bin")).unwrap();
        std::fs::create_dir_all(home.join("libs")).unwrap();
        std::fs::write(home.join("bin/kafka-server-start.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(home.join("libs/kafka-clients-4.1.1.jar"), "").unwrap();
        if with_jar {
            std::fs::write(home.join("libs/kafka_2.13-4.1.1.jar"), "").unwrap();
        }
        home
    }

    fn find_with(vars: &[(&str, OsString)], cache: &Path) -> Result<KafkaLibs, KafkaLibsError> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let var = move |name: &str| vars.get(name).cloned();
        find(&Surroundings {
            var: &var,
            cache: cache.to_owned(),
        })
    }

    #[test]
    fn evbench_kafka_libs_wins_and_must_hold_the_jar() {
        let root = tempfile::tempdir().unwrap();
        let a = install(root.path(), "a", true);
        let b = install(root.path(), "b", true);
        let found = find_with(
            &[
                ("EVBENCH_KAFKA_LIBS", a.join("libs").into()),
                ("KAFKA_HOME", b.clone().into()),
            ],
            &root.path().join("cache"),
        )
        .unwrap();
        assert_eq!(found.dir, a.join("libs"));
        assert_eq!(found.found_by, "EVBENCH_KAFKA_LIBS");
        assert_eq!(found.version, "4.1.1");

        let empty = install(root.path(), "empty", false);
        let err = find_with(
            &[
                ("EVBENCH_KAFKA_LIBS", empty.join("libs").into()),
                ("KAFKA_HOME", b.into()),
            ],
            &root.path().join("cache"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("EVBENCH_KAFKA_LIBS") && err.contains("no Kafka server jar"),
            "{err}"
        );
    }

    #[test]
    fn kafka_home_is_the_tarball_layout() {
        let root = tempfile::tempdir().unwrap();
        let home = install(root.path(), "kafka_2.13-4.1.1", true);
        let found = find_with(
            &[("KAFKA_HOME", home.clone().into())],
            &root.path().join("c"),
        )
        .unwrap();
        assert_eq!(found.dir, home.join("libs"));
        assert_eq!(found.found_by, "KAFKA_HOME");
    }

    #[test]
    fn a_start_script_on_path_is_followed_through_links_to_its_libs() {
        let root = tempfile::tempdir().unwrap();
        let home = install(root.path(), "opt-kafka", true);
        // A profile's bin directory linking into the install (Nix, /usr/local/bin).
        let profile = root.path().join("profile/bin");
        std::fs::create_dir_all(&profile).unwrap();
        std::os::unix::fs::symlink(
            home.join("bin/kafka-server-start.sh"),
            profile.join("kafka-server-start.sh"),
        )
        .unwrap();
        let path = std::env::join_paths([root.path().join("nothing"), profile]).unwrap();
        let found = find_with(&[("PATH", path)], &root.path().join("c")).unwrap();
        assert_eq!(found.dir, std::fs::canonicalize(home.join("libs")).unwrap());
        assert_eq!(found.found_by, "kafka-server-start.sh on PATH");
    }

    #[test]
    fn the_cache_comes_last_and_every_place_is_named_when_nothing_is_found() {
        let root = tempfile::tempdir().unwrap();
        let cache = root.path().join("cache/kafka-4.1.1/libs");
        // A KAFKA_HOME without the server jar does not stop the search.
        let broken = install(root.path(), "broken", false);
        let err = find_with(&[("KAFKA_HOME", broken.clone().into())], &cache)
            .unwrap_err()
            .to_string();
        assert!(err.contains("EVBENCH_KAFKA_LIBS (unset)"), "{err}");
        assert!(err.contains("KAFKA_HOME: no server jar"), "{err}");
        assert!(
            err.contains("kafka-server-start.sh on PATH (none)"),
            "{err}"
        );
        assert!(err.contains("ci/setup's cache"), "{err}");

        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join("kafka_2.13-4.1.1.jar"), "").unwrap();
        let found = find_with(&[("KAFKA_HOME", broken.into())], &cache).unwrap();
        assert_eq!(found.dir, cache);
        assert_eq!(found.found_by, "the ci/setup cache");
    }

    #[test]
    fn a_version_not_fetched_says_how_to_fetch_it() {
        let err = kafka_libs_of_version("0.0.1-none").unwrap_err().to_string();
        assert!(
            err.contains("EVBENCH_KAFKA_VERSIONS=0.0.1-none ci/setup"),
            "{err}"
        );
    }

    #[test]
    fn the_version_is_the_server_jars() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        std::fs::write(dir.join("kafka-clients-9.9.9.jar"), "").unwrap();
        std::fs::write(dir.join("kafka_2.13-9.9.9-test.jar"), "").unwrap();
        assert_eq!(server_jar_version(dir), None);
        std::fs::write(dir.join("kafka_2.13-4.4.0.jar"), "").unwrap();
        assert_eq!(server_jar_version(dir).as_deref(), Some("4.4.0"));
    }
}
