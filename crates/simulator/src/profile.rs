//! Profiles: every probability and duration of a visit, in simulated time.
//!
//! A profile is written in *simulated* time (`"20m..40m"` is twenty to forty simulated minutes);
//! how fast simulated time is played against the wall clock is the pacer's business
//! ([`crate::Compression`]). Two profiles are built in: [`Profile::study`] (the study's numbers read
//! with its own mapping, 1 s of its code ≈ 1 simulated minute) and [`Profile::study_literal`] (the
//! study's code as written, in seconds). A scenario starts from one of them and overrides any field
//! through a [`ProfileSpec`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The names [`Profile::builtin`] knows.
pub const BUILTIN_PROFILES: [&str; 2] = ["study", "study-literal"];

/// Longest duration a profile may hold (a year), so that simulated times never overflow.
pub const MAX_PROFILE_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// A range of durations, both bounds inclusive, drawn uniformly at millisecond resolution.
///
/// Written as `"20m..40m"` (also `"20m..=40m"`, the same range) or a single duration `"5m"`;
/// each side is read by `humantime` (`"1m 30s"`, `"8s"`, `"250ms"`, `"2h"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DurationRange {
    /// Shortest duration drawn.
    pub min: Duration,
    /// Longest duration drawn.
    pub max: Duration,
}

impl DurationRange {
    /// The range `min..=max`; fails when `min > max`.
    pub fn new(min: Duration, max: Duration) -> Result<Self> {
        let range = DurationRange { min, max };
        range.check("range")?;
        Ok(range)
    }

    /// `min..=max` from whole seconds, for literals.
    pub const fn secs(min: u64, max: u64) -> Self {
        DurationRange {
            min: Duration::from_secs(min),
            max: Duration::from_secs(max),
        }
    }

    /// `min..=max` from whole minutes, for literals.
    pub const fn mins(min: u64, max: u64) -> Self {
        DurationRange::secs(min * 60, max * 60)
    }

    /// The shortest duration in milliseconds.
    pub fn min_ms(&self) -> u64 {
        millis(self.min)
    }

    /// The longest duration in milliseconds.
    pub fn max_ms(&self) -> u64 {
        millis(self.max)
    }

    /// Checks `min <= max`, whole milliseconds, at most [`MAX_PROFILE_DURATION`].
    fn check(&self, field: &str) -> Result<()> {
        check_duration(field, self.min)?;
        check_duration(field, self.max)?;
        if self.min > self.max {
            return Err(Error::Profile(format!(
                "`{field}`: empty range {self} (the minimum exceeds the maximum)"
            )));
        }
        Ok(())
    }
}

impl fmt::Display for DurationRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}..{}",
            humantime::format_duration(self.min),
            humantime::format_duration(self.max)
        )
    }
}

impl FromStr for DurationRange {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |reason: String| Error::DurationRange {
            input: text.to_owned(),
            reason,
        };
        let parse = |side: &str| {
            humantime::parse_duration(side.trim()).map_err(|e| bad(format!("{side:?}: {e}")))
        };
        let (min, max) = match text.split_once("..") {
            Some((lo, hi)) => {
                let hi = hi.strip_prefix('=').unwrap_or(hi);
                (parse(lo)?, parse(hi)?)
            }
            None => {
                let d = parse(text)?;
                (d, d)
            }
        };
        let range = DurationRange { min, max };
        range.check("range").map_err(|e| bad(e.to_string()))?;
        Ok(range)
    }
}

impl TryFrom<String> for DurationRange {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        text.parse()
    }
}

impl From<DurationRange> for String {
    fn from(range: DurationRange) -> String {
        range.to_string()
    }
}

/// A range of integers, both bounds inclusive: written `"40..=99"` or a single value `"50"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IntRange {
    /// Smallest value drawn.
    pub min: u32,
    /// Largest value drawn.
    pub max: u32,
}

impl IntRange {
    /// `min..=max`, for literals (not checked; [`Profile::validate`] checks).
    pub const fn new(min: u32, max: u32) -> Self {
        IntRange { min, max }
    }
}

impl fmt::Display for IntRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}

impl FromStr for IntRange {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::IntRange {
            input: text.to_owned(),
            reason: reason.to_owned(),
        };
        let int = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| bad("each bound must be a non-negative integer"))
        };
        let (min, max) = match text.split_once("..") {
            Some((lo, hi)) => match hi.strip_prefix('=') {
                Some(hi) => (int(lo)?, int(hi)?),
                None => return Err(bad("write an inclusive range, `min..=max`")),
            },
            None => {
                let v = int(text)?;
                (v, v)
            }
        };
        if min > max {
            return Err(bad("the minimum exceeds the maximum"));
        }
        Ok(IntRange { min, max })
    }
}

impl TryFrom<String> for IntRange {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        text.parse()
    }
}

impl From<IntRange> for String {
    fn from(range: IntRange) -> String {
        range.to_string()
    }
}

/// Everything random about a visit, in simulated time.
///
/// A visit: while the bay is free, every `arrival_tick` a vehicle arrives with
/// `arrival_probability`. With `no_charge_probability` it never charges and leaves after
/// `no_charge_wait`. Otherwise the user identifies after `identification_delay`, charging starts
/// `charge_start_delay` later at a power drawn from `power_kw` and lasts `charging_duration`; the
/// user is disconnected when charging ends; with `overstay_probability` the vehicle then stays
/// `overstay_idle`, else `normal_idle`, and leaves. `overstay_grace` is the rule that decides an
/// overstay from the signals (idle after charging longer than the grace), as the aggregator does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// How often a free bay may receive a vehicle (the study's loop: once a second).
    #[serde(with = "events::human_duration")]
    pub arrival_tick: Duration,
    /// Chance, at each tick while the bay is free, that a vehicle arrives.
    pub arrival_probability: f64,
    /// Chance that a parked vehicle never charges (a no-charge violation).
    pub no_charge_probability: f64,
    /// How long a vehicle that does not charge stays, from its arrival.
    pub no_charge_wait: DurationRange,
    /// From arrival to the user's identification.
    pub identification_delay: DurationRange,
    /// From identification to the start of charging.
    pub charge_start_delay: DurationRange,
    /// From the start to the end of charging.
    pub charging_duration: DurationRange,
    /// Chance that the vehicle overstays after charging.
    pub overstay_probability: f64,
    /// Idle time after charging of a vehicle that overstays.
    pub overstay_idle: DurationRange,
    /// Idle time after charging of a vehicle that leaves normally.
    pub normal_idle: DurationRange,
    /// The overstay rule: idle after charging longer than this is an overstay.
    #[serde(with = "events::human_duration")]
    pub overstay_grace: Duration,
    /// Price offered to the user, in euro cents per kWh (sent as EUR/kWh, `cents / 100`).
    pub price_cents: IntRange,
    /// Power the vehicle accepts, in kW (the charger's `energy_delivered`).
    pub power_kw: IntRange,
}

impl Default for Profile {
    fn default() -> Self {
        Profile::study()
    }
}

impl Profile {
    /// The study's numbers with its own mapping, 1 s of its code ≈ 1 simulated minute, and the
    /// charging time of its realistic table (20–40 min): a visit lasts about 30–50 minutes.
    pub fn study() -> Self {
        Profile {
            arrival_tick: Duration::from_secs(60),
            arrival_probability: 0.3,
            no_charge_probability: 0.05,
            no_charge_wait: DurationRange::mins(5, 30),
            identification_delay: DurationRange::mins(1, 3),
            charge_start_delay: DurationRange::mins(1, 3),
            charging_duration: DurationRange::mins(20, 40),
            overstay_probability: 0.15,
            overstay_idle: DurationRange::mins(7, 10),
            normal_idle: DurationRange::mins(2, 5),
            overstay_grace: events::STUDY_OVERSTAY_GRACE,
            price_cents: IntRange::new(40, 99),
            power_kw: IntRange::new(10, 30),
        }
    }

    /// The study's code as written, in seconds (charging 8–10 s), for side-by-side runs against
    /// the study's own generator.
    pub fn study_literal() -> Self {
        Profile {
            arrival_tick: Duration::from_secs(1),
            no_charge_wait: DurationRange::secs(5, 30),
            identification_delay: DurationRange::secs(1, 3),
            charge_start_delay: DurationRange::secs(1, 3),
            charging_duration: DurationRange::secs(8, 10),
            overstay_idle: DurationRange::secs(7, 10),
            normal_idle: DurationRange::secs(2, 5),
            overstay_grace: Duration::from_secs(6),
            ..Profile::study()
        }
    }

    /// A built-in profile by name: `study` or `study-literal` (see [`BUILTIN_PROFILES`]).
    pub fn builtin(name: &str) -> Result<Self> {
        match name {
            "study" => Ok(Profile::study()),
            "study-literal" => Ok(Profile::study_literal()),
            _ => Err(Error::UnknownProfile(name.to_owned())),
        }
    }

    /// Checks probabilities in `[0, 1]`, non-empty ranges, a positive tick, whole milliseconds,
    /// durations of at most [`MAX_PROFILE_DURATION`], and a power of at least 1 kW.
    pub fn validate(&self) -> Result<()> {
        for (field, p) in [
            ("arrival_probability", self.arrival_probability),
            ("no_charge_probability", self.no_charge_probability),
            ("overstay_probability", self.overstay_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::Profile(format!(
                    "`{field}` = {p} is not a probability in [0, 1]"
                )));
            }
        }
        check_duration("arrival_tick", self.arrival_tick)?;
        if self.arrival_tick.is_zero() {
            return Err(Error::Profile("`arrival_tick` must be positive".into()));
        }
        check_duration("overstay_grace", self.overstay_grace)?;
        for (field, range) in [
            ("no_charge_wait", self.no_charge_wait),
            ("identification_delay", self.identification_delay),
            ("charge_start_delay", self.charge_start_delay),
            ("charging_duration", self.charging_duration),
            ("overstay_idle", self.overstay_idle),
            ("normal_idle", self.normal_idle),
        ] {
            range.check(field)?;
        }
        for (field, range) in [
            ("price_cents", self.price_cents),
            ("power_kw", self.power_kw),
        ] {
            if range.min > range.max {
                return Err(Error::Profile(format!(
                    "`{field}`: empty range {range} (the minimum exceeds the maximum)"
                )));
            }
        }
        if self.power_kw.min == 0 {
            return Err(Error::Profile(
                "`power_kw` must be at least 1 (0 kW means the charger is stopped)".into(),
            ));
        }
        Ok(())
    }

    /// Whether the overstay rule tells the two endings apart: every normal idle is within the
    /// grace and every overstay idle beyond it. True for both built-ins; when false, some visits
    /// drawn as overstays are not overstays by the rule (or the reverse), and the ground truth
    /// follows the rule.
    pub fn grace_separates_idles(&self) -> bool {
        self.normal_idle.max <= self.overstay_grace && self.overstay_idle.min > self.overstay_grace
    }

    /// The longest a visit can last, arrival to departure.
    pub fn max_visit(&self) -> Duration {
        let charged = self.identification_delay.max
            + self.charge_start_delay.max
            + self.charging_duration.max
            + self.overstay_idle.max.max(self.normal_idle.max);
        charged.max(self.no_charge_wait.max)
    }
}

/// A profile as a scenario writes it: a base (a built-in name, `study` when absent) and any
/// field to override. Unknown keys are rejected.
///
/// ```toml
/// [profile]
/// base = "study"
/// charging_duration = "30m..60m"
/// overstay_probability = 0.25
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// The built-in profile to start from (`study`, `study-literal`); `study` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Overrides [`Profile::arrival_tick`].
    #[serde(
        default,
        with = "events::human_duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub arrival_tick: Option<Duration>,
    /// Overrides [`Profile::arrival_probability`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival_probability: Option<f64>,
    /// Overrides [`Profile::no_charge_probability`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_charge_probability: Option<f64>,
    /// Overrides [`Profile::no_charge_wait`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_charge_wait: Option<DurationRange>,
    /// Overrides [`Profile::identification_delay`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identification_delay: Option<DurationRange>,
    /// Overrides [`Profile::charge_start_delay`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_start_delay: Option<DurationRange>,
    /// Overrides [`Profile::charging_duration`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_duration: Option<DurationRange>,
    /// Overrides [`Profile::overstay_probability`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overstay_probability: Option<f64>,
    /// Overrides [`Profile::overstay_idle`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overstay_idle: Option<DurationRange>,
    /// Overrides [`Profile::normal_idle`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal_idle: Option<DurationRange>,
    /// Overrides [`Profile::overstay_grace`].
    #[serde(
        default,
        with = "events::human_duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub overstay_grace: Option<Duration>,
    /// Overrides [`Profile::price_cents`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_cents: Option<IntRange>,
    /// Overrides [`Profile::power_kw`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_kw: Option<IntRange>,
}

impl ProfileSpec {
    /// A spec that is just a built-in profile, no overrides.
    pub fn named(base: impl Into<String>) -> Self {
        ProfileSpec {
            base: Some(base.into()),
            ..ProfileSpec::default()
        }
    }

    /// The base with the overrides applied, validated.
    pub fn resolve(&self) -> Result<Profile> {
        let mut p = Profile::builtin(self.base.as_deref().unwrap_or("study"))?;
        macro_rules! apply {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { p.$field = v; } )* };
        }
        apply!(
            arrival_tick,
            arrival_probability,
            no_charge_probability,
            no_charge_wait,
            identification_delay,
            charge_start_delay,
            charging_duration,
            overstay_probability,
            overstay_idle,
            normal_idle,
            overstay_grace,
            price_cents,
            power_kw
        );
        p.validate()?;
        Ok(p)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn check_duration(field: &str, d: Duration) -> Result<()> {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return Err(Error::Profile(format!(
            "`{field}`: {} is not a whole number of milliseconds",
            humantime::format_duration(d)
        )));
    }
    if d > MAX_PROFILE_DURATION {
        return Err(Error::Profile(format!(
            "`{field}`: {} is longer than a year",
            humantime::format_duration(d)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_ranges_parse_and_print() {
        let r: DurationRange = "20m..40m".parse().unwrap();
        assert_eq!(r, DurationRange::mins(20, 40));
        assert_eq!(r.to_string(), "20m..40m");
        assert_eq!(
            "8s..=10s".parse::<DurationRange>().unwrap(),
            DurationRange::secs(8, 10)
        );
        assert_eq!(
            " 1m 30s .. 2m ".parse::<DurationRange>().unwrap(),
            DurationRange::secs(90, 120)
        );
        assert_eq!(
            "5m".parse::<DurationRange>().unwrap(),
            DurationRange::mins(5, 5)
        );
        assert_eq!(r.min_ms(), 1_200_000);
        for bad in ["40m..20m", "x..1m", "", "1m..", "1.5ms..2ms", "1m..500days"] {
            assert!(bad.parse::<DurationRange>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn int_ranges_parse_and_print() {
        assert_eq!(
            "40..=99".parse::<IntRange>().unwrap(),
            IntRange::new(40, 99)
        );
        assert_eq!("7".parse::<IntRange>().unwrap(), IntRange::new(7, 7));
        assert_eq!(IntRange::new(10, 30).to_string(), "10..=30");
        for bad in ["40..99", "99..=40", "-1..=3", "a"] {
            assert!(bad.parse::<IntRange>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn builtins_are_valid_and_separate_overstays() {
        for name in BUILTIN_PROFILES {
            let p = Profile::builtin(name).unwrap();
            p.validate().unwrap();
            assert!(p.grace_separates_idles(), "{name}");
        }
        assert_eq!(
            Profile::study_literal().charging_duration,
            DurationRange::secs(8, 10)
        );
        assert!(matches!(
            Profile::builtin("nope"),
            Err(Error::UnknownProfile(_))
        ));
    }

    #[test]
    fn profile_round_trips_through_json() {
        let p = Profile::study();
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains(r#""charging_duration":"20m..40m""#), "{json}");
        assert!(json.contains(r#""overstay_grace":"6m""#), "{json}");
        let back: Profile = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn spec_overrides_a_base() {
        let spec: ProfileSpec = serde_json::from_str(
            r#"{"base":"study-literal","charging_duration":"20s..40s","overstay_grace":"6500ms","arrival_probability":0.5}"#,
        )
        .unwrap();
        let p = spec.resolve().unwrap();
        assert_eq!(p.charging_duration, DurationRange::secs(20, 40));
        assert_eq!(p.overstay_grace, Duration::from_millis(6500));
        assert_eq!(p.arrival_probability, 0.5);
        assert_eq!(p.normal_idle, Profile::study_literal().normal_idle);
        assert_eq!(ProfileSpec::default().resolve().unwrap(), Profile::study());
    }

    #[test]
    fn spec_reads_a_scenario_table() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Scenario {
            profile: ProfileSpec,
        }
        let s: Scenario = toml::from_str(
            r#"
            [profile]
            base = "study"
            charging_duration = "30m..60m"
            overstay_probability = 0.25
            overstay_grace = "6m 30s"
            price_cents = "50..=80"
            "#,
        )
        .unwrap();
        let p = s.profile.resolve().unwrap();
        assert_eq!(p.charging_duration, DurationRange::mins(30, 60));
        assert_eq!(p.overstay_probability, 0.25);
        assert_eq!(p.overstay_grace, Duration::from_secs(390));
        assert_eq!(p.price_cents, IntRange::new(50, 80));
        assert_eq!(p.arrival_tick, Duration::from_secs(60));

        let err = toml::from_str::<Scenario>("[profile]\ncharging = \"1m\"\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `charging`"),
            "{err}"
        );
        let err = toml::from_str::<Scenario>("[profile]\ncharging_duration = \"40m..20m\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("40m..20m"), "{err}");
        // A resolved profile written back reads the same.
        let text = toml::to_string(&p).unwrap();
        assert_eq!(toml::from_str::<Profile>(&text).unwrap(), p);
    }

    #[test]
    fn spec_errors_are_clear() {
        let unknown_base = ProfileSpec::named("fast").resolve().unwrap_err();
        assert!(
            unknown_base.to_string().contains("study-literal"),
            "{unknown_base}"
        );

        let unknown_field =
            serde_json::from_str::<ProfileSpec>(r#"{"charging":"1m"}"#).unwrap_err();
        assert!(
            unknown_field.to_string().contains("unknown field"),
            "{unknown_field}"
        );

        let p = ProfileSpec {
            no_charge_probability: Some(1.5),
            ..ProfileSpec::default()
        };
        assert!(
            p.resolve()
                .unwrap_err()
                .to_string()
                .contains("no_charge_probability")
        );

        let p = ProfileSpec {
            arrival_tick: Some(Duration::ZERO),
            ..ProfileSpec::default()
        };
        assert!(p.resolve().is_err());

        let p = ProfileSpec {
            power_kw: Some(IntRange::new(0, 5)),
            ..ProfileSpec::default()
        };
        assert!(p.resolve().is_err());

        let p = ProfileSpec {
            arrival_probability: Some(f64::NAN),
            ..ProfileSpec::default()
        };
        assert!(p.resolve().is_err());
    }
}
