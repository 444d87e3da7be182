//! Pacing: when, on the wall clock, a simulated moment is due.
//!
//! Pure arithmetic on an absolute schedule: the wall offset of simulated time `t` is
//! `(t - sim_origin) / factor`, computed afresh for every event, so a long run never drifts.
//! The caller owns the clock and the sleeping.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// How fast simulated time is played against the wall clock.
///
/// Written `1` (real time), `60` (the study's speed: a simulated minute per second), any positive
/// factor (`0.5` is half speed), or `"max"` (unpaced: as fast as the machine goes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Compression {
    /// Simulated milliseconds per wall-clock millisecond; finite and positive.
    Factor(f64),
    /// No pacing at all.
    Max,
}

impl Compression {
    /// A factor, checked finite and positive.
    pub fn factor(factor: f64) -> Result<Self> {
        if factor.is_finite() && factor > 0.0 {
            Ok(Compression::Factor(factor))
        } else {
            Err(Error::Compression(format!(
                "{factor} is not a positive finite factor"
            )))
        }
    }
}

impl Default for Compression {
    /// `max`: unpaced.
    fn default() -> Self {
        Compression::Max
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::Factor(x) => write!(f, "{x}"),
            Compression::Max => f.write_str("max"),
        }
    }
}

impl FromStr for Compression {
    type Err = Error;

    /// `max`, or a number (`60`, `0.5`; a trailing `x`, as in `60x`, is accepted).
    fn from_str(text: &str) -> Result<Self> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("max") {
            return Ok(Compression::Max);
        }
        let number = t.strip_suffix(['x', 'X']).unwrap_or(t);
        match number.parse::<f64>() {
            Ok(x) => Compression::factor(x),
            Err(_) => Err(Error::Compression(format!(
                "{text:?}: expected a positive number or \"max\""
            ))),
        }
    }
}

impl Serialize for Compression {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match *self {
            Compression::Max => s.serialize_str("max"),
            // Integral factors are written as integers, so `60` reads back as `60`.
            Compression::Factor(x) if x.fract() == 0.0 && x <= 9.0e15 => s.serialize_u64(x as u64),
            Compression::Factor(x) => s.serialize_f64(x),
        }
    }
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Compression;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a positive number (1 = real time, 60 = the study's speed) or \"max\"")
            }

            fn visit_f64<E: de::Error>(self, x: f64) -> std::result::Result<Compression, E> {
                Compression::factor(x).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, x: i64) -> std::result::Result<Compression, E> {
                self.visit_f64(x as f64)
            }

            fn visit_u64<E: de::Error>(self, x: u64) -> std::result::Result<Compression, E> {
                self.visit_f64(x as f64)
            }

            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Compression, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Maps simulated time to a wall-clock offset from the start of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacer {
    compression: Compression,
    sim_origin_ms: i64,
}

impl Pacer {
    /// A pacer whose wall-clock origin (offset zero) is simulated time `sim_origin_ms`
    /// (typically [`crate::FleetConfig::start_ms`]).
    pub fn new(compression: Compression, sim_origin_ms: i64) -> Self {
        Pacer {
            compression,
            sim_origin_ms,
        }
    }

    /// The compression played.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// When simulated time `sim_ms` is due, as an offset from the wall-clock origin:
    /// `(sim_ms - sim_origin) / factor`; zero before the origin; `None` when unpaced.
    ///
    /// The caller sleeps until `wall_origin + offset` (an `Instant`), never by accumulated
    /// relative sleeps, so lateness does not add up.
    pub fn wall_offset(&self, sim_ms: i64) -> Option<Duration> {
        let Compression::Factor(factor) = self.compression else {
            return None;
        };
        let delta_ms = sim_ms.saturating_sub(self.sim_origin_ms).max(0) as f64;
        Some(Duration::try_from_secs_f64(delta_ms / factor / 1000.0).unwrap_or(Duration::MAX))
    }

    /// The simulated time due at `wall_elapsed` since the origin: every event at or before it
    /// may be sent now. `None` when unpaced (everything is due).
    pub fn sim_due(&self, wall_elapsed: Duration) -> Option<i64> {
        let Compression::Factor(factor) = self.compression else {
            return None;
        };
        let delta_ms = (wall_elapsed.as_secs_f64() * 1000.0 * factor).floor();
        // Saturating float-to-int cast: a due time past the representable range is "everything".
        Some(self.sim_origin_ms.saturating_add(delta_ms as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("max".parse::<Compression>().unwrap(), Compression::Max);
        assert_eq!(
            "60".parse::<Compression>().unwrap(),
            Compression::Factor(60.0)
        );
        assert_eq!(
            "60x".parse::<Compression>().unwrap(),
            Compression::Factor(60.0)
        );
        assert_eq!(
            "0.5".parse::<Compression>().unwrap(),
            Compression::Factor(0.5)
        );
        for bad in ["0", "-1", "inf", "NaN", "fast", ""] {
            assert!(bad.parse::<Compression>().is_err(), "{bad}");
        }
        assert_eq!(Compression::Factor(60.0).to_string(), "60");
        assert_eq!(Compression::Max.to_string(), "max");
    }

    #[test]
    fn serde_from_numbers_and_max() {
        let c: Compression = serde_json::from_str("1").unwrap();
        assert_eq!(c, Compression::Factor(1.0));
        let c: Compression = serde_json::from_str("2.5").unwrap();
        assert_eq!(c, Compression::Factor(2.5));
        let c: Compression = serde_json::from_str(r#""max""#).unwrap();
        assert_eq!(c, Compression::Max);
        assert!(serde_json::from_str::<Compression>("0").is_err());
        assert!(serde_json::from_str::<Compression>(r#""slow""#).is_err());
        assert_eq!(
            serde_json::to_string(&Compression::Factor(60.0)).unwrap(),
            "60"
        );
        assert_eq!(
            serde_json::to_string(&Compression::Factor(0.5)).unwrap(),
            "0.5"
        );
        assert_eq!(
            serde_json::to_string(&Compression::Max).unwrap(),
            r#""max""#
        );
    }

    #[test]
    fn absolute_schedule() {
        let origin = 1_767_225_600_000;
        let p = Pacer::new(Compression::Factor(60.0), origin);
        assert_eq!(p.wall_offset(origin), Some(Duration::ZERO));
        assert_eq!(p.wall_offset(origin - 5), Some(Duration::ZERO));
        assert_eq!(p.wall_offset(origin + 60_000), Some(Duration::from_secs(1)));
        // Two hours simulated at 60x: two minutes, exactly, however many events came before.
        assert_eq!(
            p.wall_offset(origin + 7_200_000),
            Some(Duration::from_secs(120))
        );
        assert_eq!(p.sim_due(Duration::from_secs(2)), Some(origin + 120_000));
        let real = Pacer::new(Compression::Factor(1.0), origin);
        assert_eq!(
            real.wall_offset(origin + 1500),
            Some(Duration::from_millis(1500))
        );
        let max = Pacer::new(Compression::Max, origin);
        assert_eq!(max.wall_offset(origin + 1), None);
        assert_eq!(max.sim_due(Duration::from_secs(1)), None);
    }

    #[test]
    fn inverse_agrees_with_offset() {
        let origin = 1_767_225_600_000;
        for factor in [0.25, 1.0, 7.0, 60.0, 3600.0] {
            let p = Pacer::new(Compression::Factor(factor), origin);
            for t in [0, 1, 999, 60_000, 86_400_000, 31_536_000_000] {
                let wall = p.wall_offset(origin + t).unwrap();
                let due = p.sim_due(wall).unwrap();
                assert!(
                    (due - (origin + t)).abs() <= 1,
                    "factor {factor} t {t}: {due}"
                );
            }
        }
    }
}
