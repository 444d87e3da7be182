//! The sessionizer's settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Settings of a [`crate::Sessionizer`]. Durations are written for people (`"6m"`, `"5s"`,
/// `"2h"`, `"1day"`, as `humantime` reads them); unknown keys are rejected.
///
/// The defaults are those of the built-in `study` profile; **`overstay_grace` must be the
/// profile's own value** (the simulator's `Profile::overstay_grace`), or overstays will not
/// match the ground truth.
///
/// ```
/// let config: aggregator::SessionizerConfig = serde_json::from_str(
///     r#"{ "overstay_grace": "6s", "reorder_tolerance": "2s", "inactivity_gap": "10m" }"#,
/// ).unwrap();
/// assert_eq!(config.overstay_grace, std::time::Duration::from_secs(6));
/// config.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionizerConfig {
    /// Idle time after charging beyond which a visit is an overstay (`idle > grace`).
    #[serde(with = "events::human_duration")]
    pub overstay_grace: Duration,
    /// How far, in event time, a charger's signal may come after later signals of the same
    /// charger and still be put in its place. Later than that it is dead-lettered as late.
    /// Complete visits that arrive in order are emitted at once whatever this is; only visits
    /// with a missing or out-of-order signal wait, for at most this much of the charger's
    /// event time.
    #[serde(with = "events::human_duration")]
    pub reorder_tolerance: Duration,
    /// A visit whose charger sends nothing for longer than this (in event time) is closed at
    /// its last signal and flagged `closed_by_inactivity`. Must exceed the longest silence of a
    /// normal visit (the study's longest is its 20–40 min charge).
    #[serde(with = "events::human_duration")]
    pub inactivity_gap: Duration,
    /// A signal whose timestamp is further than this ahead of the stream's event time (the
    /// largest seen so far) is dead-lettered: a broken clock must not push a charger's whole
    /// future into the past.
    #[serde(with = "events::human_duration")]
    pub max_clock_skew: Duration,
}

impl Default for SessionizerConfig {
    fn default() -> Self {
        SessionizerConfig {
            overstay_grace: events::STUDY_OVERSTAY_GRACE,
            reorder_tolerance: Duration::from_secs(5),
            inactivity_gap: Duration::from_secs(6 * 3600),
            max_clock_skew: Duration::from_secs(24 * 3600),
        }
    }
}

/// The longest inactivity gap accepted (visit times are kept as 32-bit millisecond offsets).
const MAX_GAP: Duration = Duration::from_secs(30 * 24 * 3600);

impl SessionizerConfig {
    /// The defaults with the given overstay grace (the profile's).
    pub fn with_overstay_grace(overstay_grace: Duration) -> Self {
        SessionizerConfig {
            overstay_grace,
            ..SessionizerConfig::default()
        }
    }

    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.inactivity_gap.is_zero() || self.inactivity_gap > MAX_GAP {
            return bad(format!(
                "inactivity_gap {} must be above zero and at most {}",
                show(self.inactivity_gap),
                show(MAX_GAP)
            ));
        }
        if self.reorder_tolerance >= self.inactivity_gap {
            return bad(format!(
                "reorder_tolerance {} must be shorter than inactivity_gap {}",
                show(self.reorder_tolerance),
                show(self.inactivity_gap)
            ));
        }
        if self.max_clock_skew < self.reorder_tolerance {
            return bad(format!(
                "max_clock_skew {} must be at least reorder_tolerance {}",
                show(self.max_clock_skew),
                show(self.reorder_tolerance)
            ));
        }
        if self.overstay_grace > MAX_GAP || self.max_clock_skew > Duration::from_secs(1 << 40) {
            return bad("overstay_grace or max_clock_skew is absurdly large".into());
        }
        Ok(())
    }

    pub(crate) fn overstay_grace_ms(&self) -> i64 {
        ms(self.overstay_grace)
    }

    pub(crate) fn reorder_tolerance_ms(&self) -> i64 {
        ms(self.reorder_tolerance)
    }

    pub(crate) fn inactivity_gap_ms(&self) -> i64 {
        ms(self.inactivity_gap)
    }

    pub(crate) fn max_clock_skew_ms(&self) -> i64 {
        ms(self.max_clock_skew)
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_human_durations_and_rejects_unknown_keys() {
        let c: SessionizerConfig =
            serde_json::from_str(r#"{"overstay_grace":"6s","reorder_tolerance":"1s 500ms"}"#)
                .unwrap();
        assert_eq!(c.overstay_grace, Duration::from_secs(6));
        assert_eq!(c.reorder_tolerance, Duration::from_millis(1500));
        assert_eq!(
            c.inactivity_gap,
            SessionizerConfig::default().inactivity_gap
        );
        let e = serde_json::from_str::<SessionizerConfig>(r#"{"grace":"6s"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `grace`"), "{e}");
        let e = serde_json::from_str::<SessionizerConfig>(r#"{"overstay_grace":"6 parsecs"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("invalid duration"), "{e}");
    }

    #[test]
    fn round_trips_through_json() {
        let c = SessionizerConfig::default();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"6m\""), "{json}");
        assert_eq!(serde_json::from_str::<SessionizerConfig>(&json).unwrap(), c);
    }

    #[test]
    fn validation_explains() {
        SessionizerConfig::default().validate().unwrap();
        let c = SessionizerConfig {
            reorder_tolerance: SessionizerConfig::default().inactivity_gap,
            ..SessionizerConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("reorder_tolerance"), "{e}");
        let c = SessionizerConfig {
            inactivity_gap: Duration::ZERO,
            ..SessionizerConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
