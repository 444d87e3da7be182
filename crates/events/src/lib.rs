//! Wire types shared by every part of evbench.
//!
//! * [`signal`]: the three sensors of a charging station (parking, user identification, charger),
//!   decoded from the study's JSON without allocation and encoded into a reused buffer.
//! * [`time`]: the timestamp forms a producer may send (epoch ms, epoch seconds, date strings).
//! * [`session`]: the aggregated record, one per vehicle visit, and the arithmetic that derives
//!   its energy, revenue and durations — shared so that ground truth and aggregator agree bit for bit.

mod fastdecode;
pub mod human_duration;
pub mod session;
pub mod signal;
pub mod time;

pub use session::{Flag, Outcome, Session, SessionParties, SessionTimes};
pub use signal::{Reading, Sensor, Signal, decode, encode_into};

/// The topic that carries every raw sensor signal; key = charger id.
pub const SIGNALS_TOPIC: &str = "charger-station-signals";

/// The study's overstay rule: a vehicle left idle after charging for longer than this is an
/// overstay. The `study` profile's value and the sessionizer's default (they must agree, or
/// overstays are not recognised); `study-literal` plays the same rule in seconds.
pub const STUDY_OVERSTAY_GRACE: std::time::Duration = std::time::Duration::from_secs(6 * 60);
/// The topic that carries one aggregated session per visit; key = charger id.
pub const SESSIONS_TOPIC: &str = "charging-sessions";
/// The dead-letter topic: rejected signals as they came, with the reason in the `reason` header.
pub const DEAD_LETTER_TOPIC: &str = "charger-station-signals-dead-letter";

/// Errors of this crate: why a signal could not be decoded. The `Display` is one line: it is
/// the reason a dead letter carries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// serde's error is kept and said in the reason (not chained: a dead letter's reason is one
    /// line of text).
    #[error("malformed JSON: {json}")]
    Json { json: serde_json::Error },
    #[error(
        "unknown sensor: none of `vehicle_detected`, `user_connection`, `recharging` is present"
    )]
    UnknownSensor,
    #[error(
        "ambiguous sensor: more than one of `vehicle_detected`, `user_connection`, `recharging` is present"
    )]
    AmbiguousSensor,
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("invalid timestamp: {0}")]
    Timestamp(String),
    #[error("impossible value: {0}")]
    Impossible(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
