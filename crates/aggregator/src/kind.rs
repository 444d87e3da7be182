//! The six kinds of signal, which are also the six steps (slots) of a visit.

use events::Reading;

/// A kind of signal: which sensor said what. Its number is the visit slot it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Parking sensor, `vehicle_detected=true`.
    Arrival = 0,
    /// User data, `user_connection=true`.
    Identification = 1,
    /// Charger, `recharging=true`.
    ChargeStart = 2,
    /// Charger, `recharging=false`.
    ChargeEnd = 3,
    /// User data, `user_connection=false`.
    Disconnect = 4,
    /// Parking sensor, `vehicle_detected=false`.
    Departure = 5,
}

impl Kind {
    /// Every kind, in slot order.
    pub const ALL: [Kind; 6] = [
        Kind::Arrival,
        Kind::Identification,
        Kind::ChargeStart,
        Kind::ChargeEnd,
        Kind::Disconnect,
        Kind::Departure,
    ];

    /// The kind of a decoded reading.
    pub fn of(reading: &Reading<'_>) -> Kind {
        match reading {
            Reading::Parking {
                vehicle_detected: true,
                ..
            } => Kind::Arrival,
            Reading::Parking { .. } => Kind::Departure,
            Reading::UserData {
                user_connection: true,
                ..
            } => Kind::Identification,
            Reading::UserData { .. } => Kind::Disconnect,
            Reading::Charger {
                recharging: true, ..
            } => Kind::ChargeStart,
            Reading::Charger { .. } => Kind::ChargeEnd,
        }
    }

    /// The kind whose slot number is `index` (only slot numbers a visit itself stored).
    pub fn from_index(index: u8) -> Kind {
        Kind::ALL[usize::from(index).min(5)]
    }

    /// The slot number.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The slot's bit in a set of slots.
    #[inline]
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// What a signal of this kind is, for people (dead-letter reasons).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Arrival => "arrival (vehicle_detected=true)",
            Kind::Identification => "identification (user_connection=true)",
            Kind::ChargeStart => "charge start (recharging=true)",
            Kind::ChargeEnd => "charge end (recharging=false)",
            Kind::Disconnect => "user disconnect (user_connection=false)",
            Kind::Departure => "departure (vehicle_detected=false)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_bits_follow_the_declaration() {
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert_eq!(Kind::from_index(i as u8), kind);
            assert_eq!(kind.bit(), 1 << i);
        }
    }
}
