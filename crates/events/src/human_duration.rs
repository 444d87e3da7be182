//! Serde for `Duration` as human-readable text (`"500ms"`, `"20m"`, `"2h"`), the form every
//! evbench configuration (scenarios, profiles, the aggregator's and the sink's settings) uses:
//! `#[serde(with = "events::human_duration")]`, or `events::human_duration::option` for
//! `Option<Duration>`. On the command line, [`HumanDuration`] reads and shows the same form.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

/// Writes `"1s 500ms"`.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_duration(*duration))
}

/// Reads `"500ms"`, `"2s"`, `"1m 30s"`; the error names the text and shows the form.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(text.trim()).map_err(|e| {
        D::Error::custom(format!(
            "invalid duration {text:?} (write e.g. \"500ms\", \"20m\", \"2h\"): {e}"
        ))
    })
}

/// A `Duration` read and shown as human-readable text (`"500ms"`, `"2h"`): the type of every
/// duration flag of the command line, so that `--help` shows the library's own default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&humantime::format_duration(self.0), f)
    }
}

/// Text that is not a duration. humantime's reason is part of the message (command-line
/// parsers print the message alone, not a chain of causes).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid duration {text:?} (write e.g. \"500ms\", \"20m\", \"2h\"): {reason}")]
pub struct InvalidDuration {
    pub text: String,
    pub reason: humantime::DurationError,
}

impl FromStr for HumanDuration {
    type Err = InvalidDuration;

    fn from_str(text: &str) -> Result<Self, InvalidDuration> {
        humantime::parse_duration(text.trim())
            .map(HumanDuration)
            .map_err(|reason| InvalidDuration {
                text: text.to_owned(),
                reason,
            })
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Duration {
        d.0
    }
}

impl From<Duration> for HumanDuration {
    fn from(d: Duration) -> HumanDuration {
        HumanDuration(d)
    }
}

/// The same for `Option<Duration>` (absent or `null` = `None`, with `#[serde(default)]`).
pub mod option {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    /// Writes the duration, or nothing.
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(d) => super::serialize(d, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        super::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Config {
        #[serde(with = "crate::human_duration")]
        wait: Duration,
    }

    #[test]
    fn round_trips_and_explains_errors() {
        let config: Config = serde_json::from_str(r#"{"wait":"1m 30s"}"#).unwrap();
        assert_eq!(config.wait, Duration::from_secs(90));
        let back: Config = serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(back, config);
        let err = serde_json::from_str::<Config>(r#"{"wait":"soon"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid duration \"soon\""), "{err}");
    }

    #[test]
    fn human_duration_reads_and_shows_the_same_form() {
        let d: HumanDuration = "1m 30s".parse().unwrap();
        assert_eq!(d.0, Duration::from_secs(90));
        assert_eq!(d.to_string(), "1m 30s");
        assert_eq!(d.to_string().parse::<HumanDuration>().unwrap(), d);
        let err = "soon".parse::<HumanDuration>().unwrap_err();
        assert_eq!(err.text, "soon");
        assert!(err.to_string().contains("\"soon\""), "{err}");
    }
}
