//! A decoded signal as the state machine needs it.

use events::{Reading, Signal};

use crate::kind::Kind;

/// A decoded signal as the sessionizer needs it: strings as (UTF-8) bytes, the kind as a slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decoded<'a> {
    pub timestamp_ms: i64,
    pub charger_id: &'a [u8],
    pub seq: Option<u64>,
    pub kind: Kind,
    /// Plate (parking) or user id (user data).
    pub text: Option<&'a [u8]>,
    pub price: Option<f64>,
    /// `energy_delivered`.
    pub power: u32,
}

impl<'a> Decoded<'a> {
    /// The state machine's view of a decoded signal.
    pub fn of_signal(signal: &'a Signal<'_>) -> Decoded<'a> {
        let (text, price, power) = match &signal.reading {
            Reading::Parking { plate, .. } => (plate.as_deref(), None, 0),
            Reading::UserData { user_id, price, .. } => (user_id.as_deref(), *price, 0),
            Reading::Charger {
                energy_delivered, ..
            } => (None, None, *energy_delivered),
        };
        Decoded {
            timestamp_ms: signal.timestamp_ms,
            charger_id: signal.charger_id.as_bytes(),
            seq: signal.seq,
            kind: Kind::of(&signal.reading),
            text: text.map(str::as_bytes),
            price,
            power,
        }
    }
}
