//! The simulator core of evbench: a pure, deterministic discrete-event model of a fleet of
//! charging stations, the study's three sensors, and the ground truth of every visit.
//!
//! No Kafka, no clock, no threads, no I/O (except [`write_jsonl`], which writes to what it is
//! given). The Kafka adapter and the CLI sit on top.
//!
//! # Model
//! Per charger, a visit (probabilities and durations from the [`Profile`], in simulated time):
//! while the bay is free, every `arrival_tick` a vehicle arrives with `arrival_probability`
//! (parking `vehicle_detected=true`, a new 8-character plate). With `no_charge_probability` it
//! waits `no_charge_wait` and leaves (parking `vehicle_detected=false`, the plate kept). Otherwise
//! the user identifies after `identification_delay` (`user_connection=true`, a new 16-character
//! user id, a price), charging starts `charge_start_delay` later (`recharging=true`,
//! `energy_delivered` = the power) and lasts `charging_duration` (`recharging=false`,
//! `energy_delivered=0`); in the same millisecond the user is disconnected
//! (`user_connection=false`, same user and price); then the vehicle idles `overstay_idle` (with
//! `overstay_probability`) or `normal_idle`, and leaves. The first possible next arrival is one
//! tick after the departure.
//!
//! # Determinism
//! Each charger has its own random stream (xoshiro256** seeded by SplitMix64 from the seed and the
//! charger index, implemented in this crate), so the same [`FleetConfig`] gives the same events
//! byte for byte, and a larger fleet gives the same events for its first chargers. Events come
//! out in global `(timestamp, charger index, seq)` order.
//!
//! ```
//! use simulator::{FleetConfig, Simulator};
//!
//! let mut sim = Simulator::new(FleetConfig { chargers: 10, ..FleetConfig::default() })?;
//! let mut json = Vec::new();
//! while let Some(meta) = sim.next_event(&mut json) {
//!     let key = sim.charger_id(meta.charger_index); // the Kafka key
//!     assert!(json.starts_with(b"{\"timestamp\":") && key.starts_with("charger-"));
//! }
//! let mut sessions = 0;
//! sim.take_completed_sessions(|_session| sessions += 1);
//! assert_eq!(sessions, sim.summary().sessions);
//! # Ok::<(), simulator::Error>(())
//! ```

mod fleet;
mod jsonl;
mod pacing;
mod profile;
mod queue;
pub mod rng;

pub use fleet::{
    DEFAULT_START_MS, EventMeta, FleetConfig, MAX_TIME_MS, MIN_START_MS, Simulator, Summary,
    charger_id_for, charger_index_of,
};
pub use jsonl::write_jsonl;
pub use pacing::{Compression, Pacer};
pub use profile::{
    BUILTIN_PROFILES, DurationRange, IntRange, MAX_PROFILE_DURATION, Profile, ProfileSpec,
};

/// Errors of the simulator: bad profiles, configs or compressions, and output failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A profile failed validation.
    #[error("invalid profile: {0}")]
    Profile(String),
    /// A profile base that is not built in.
    #[error("unknown profile {0:?}: the built-in profiles are `study` and `study-literal`")]
    UnknownProfile(String),
    /// A duration range that does not parse.
    #[error("invalid duration range {input:?} (expected e.g. \"20m..40m\"): {reason}")]
    DurationRange {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An integer range that does not parse.
    #[error("invalid range {input:?} (expected e.g. \"40..=99\"): {reason}")]
    IntRange {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A compression that is neither a positive number nor `max`.
    #[error("invalid compression: {0}")]
    Compression(String),
    /// A fleet config the simulator cannot run.
    #[error("invalid fleet config: {0}")]
    Fleet(String),
    /// Writing output failed.
    #[error("writing the output")]
    Io(#[from] std::io::Error),
    /// Serialising a session failed.
    #[error("encoding JSON")]
    Json(#[from] serde_json::Error),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
