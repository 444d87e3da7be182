//! The three sensors' signals: decoding from any producer, encoding for evbench's own.
//!
//! Field names are the study's. The sensor is recognised by its distinguishing field
//! (`vehicle_detected`, `user_connection`, `recharging`); unknown fields are ignored so other
//! producers may add their own, and evbench's `seq` (a per-charger sequence number) is optional.

use std::borrow::Cow;

use serde::Deserialize;

use crate::{Error, Result, time};

/// Which sensor sent a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sensor {
    /// The bay's parking sensor: a vehicle arrived or left.
    Parking,
    /// The identification sensor (app or RFID card): a user connected or was disconnected.
    UserData,
    /// The charger itself: charging started or stopped.
    Charger,
}

impl Sensor {
    /// The sensor's name as stored and shown (`parking`, `user_data`, `charger`).
    pub fn as_str(self) -> &'static str {
        match self {
            Sensor::Parking => "parking",
            Sensor::UserData => "user_data",
            Sensor::Charger => "charger",
        }
    }
}

/// What a sensor reported.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading<'a> {
    /// `vehicle_detected` with the vehicle's plate (the study keeps the plate on the leave signal).
    Parking {
        vehicle_detected: bool,
        plate: Option<Cow<'a, str>>,
    },
    /// `user_connection` with the user id and the price in EUR/kWh (both also on the disconnect).
    UserData {
        user_connection: bool,
        user_id: Option<Cow<'a, str>>,
        price: Option<f64>,
    },
    /// `recharging` with `energy_delivered`, the power in kW the vehicle accepts (0 when stopped).
    Charger {
        recharging: bool,
        energy_delivered: u32,
    },
}

impl Reading<'_> {
    /// The sensor this reading comes from.
    pub fn sensor(&self) -> Sensor {
        match self {
            Reading::Parking { .. } => Sensor::Parking,
            Reading::UserData { .. } => Sensor::UserData,
            Reading::Charger { .. } => Sensor::Charger,
        }
    }
}

/// One decoded signal. Strings borrow from the input buffer where it has no escapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal<'a> {
    /// Event time, epoch milliseconds (UTC), whatever form the producer used.
    pub timestamp_ms: i64,
    pub charger_id: Cow<'a, str>,
    /// evbench's per-charger sequence number, when the producer sends one.
    pub seq: Option<u64>,
    pub reading: Reading<'a>,
}

impl Signal<'_> {
    /// A copy that owns its strings.
    pub fn into_owned(self) -> Signal<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        let reading = match self.reading {
            Reading::Parking {
                vehicle_detected,
                plate,
            } => Reading::Parking {
                vehicle_detected,
                plate: plate.map(own),
            },
            Reading::UserData {
                user_connection,
                user_id,
                price,
            } => Reading::UserData {
                user_connection,
                user_id: user_id.map(own),
                price,
            },
            Reading::Charger {
                recharging,
                energy_delivered,
            } => Reading::Charger {
                recharging,
                energy_delivered,
            },
        };
        Signal {
            timestamp_ms: self.timestamp_ms,
            charger_id: own(self.charger_id),
            seq: self.seq,
            reading,
        }
    }
}

/// A timestamp in any of the accepted forms, before conversion.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawTimestamp<'a> {
    Integer(i64),
    Float(f64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

/// Every field any sensor may send; which ones are present decides the sensor.
#[derive(Deserialize)]
struct RawSignal<'a> {
    #[serde(borrow)]
    timestamp: Option<RawTimestamp<'a>>,
    #[serde(borrow)]
    charger_id: Option<Cow<'a, str>>,
    seq: Option<u64>,
    vehicle_detected: Option<bool>,
    #[serde(borrow)]
    plate: Option<Cow<'a, str>>,
    user_connection: Option<bool>,
    #[serde(borrow)]
    user_id: Option<Cow<'a, str>>,
    price: Option<f64>,
    recharging: Option<bool>,
    energy_delivered: Option<u32>,
}

/// Decodes one signal from its JSON bytes.
///
/// Rejects, with the reason: malformed JSON, a missing `timestamp` or `charger_id`, no or more
/// than one distinguishing field, unreadable timestamps, and values no sensor can send
/// (a negative or non-finite price). evbench's own layout (what [`encode_into`] writes) is
/// read by a byte scanner several times faster than serde; everything else by serde, with the
/// same result.
pub fn decode(bytes: &[u8]) -> Result<Signal<'_>> {
    match crate::fastdecode::decode_canonical(bytes) {
        Some(signal) => Ok(signal),
        None => decode_general(bytes),
    }
}

/// [`decode`] through serde alone.
pub(crate) fn decode_general(bytes: &[u8]) -> Result<Signal<'_>> {
    let raw: RawSignal<'_> = serde_json::from_slice(bytes).map_err(|json| Error::Json { json })?;
    let timestamp_ms = match raw.timestamp.ok_or(Error::MissingField("timestamp"))? {
        RawTimestamp::Integer(v) => time::from_integer(v)?,
        RawTimestamp::Float(v) => time::from_float(v)?,
        RawTimestamp::Text(t) => time::from_text(&t)?,
    };
    let charger_id = raw.charger_id.ok_or(Error::MissingField("charger_id"))?;
    if charger_id.is_empty() {
        return Err(Error::Impossible("empty charger_id".into()));
    }
    let reading = match (raw.vehicle_detected, raw.user_connection, raw.recharging) {
        (Some(vehicle_detected), None, None) => Reading::Parking {
            vehicle_detected,
            plate: raw.plate,
        },
        (None, Some(user_connection), None) => {
            if let Some(p) = raw.price
                && (!p.is_finite() || p < 0.0)
            {
                return Err(Error::Impossible(format!("price {p}")));
            }
            Reading::UserData {
                user_connection,
                user_id: raw.user_id,
                price: raw.price,
            }
        }
        (None, None, Some(recharging)) => Reading::Charger {
            recharging,
            energy_delivered: raw.energy_delivered.unwrap_or(0),
        },
        (None, None, None) => return Err(Error::UnknownSensor),
        _ => return Err(Error::AmbiguousSensor),
    };
    Ok(Signal {
        timestamp_ms,
        charger_id,
        seq: raw.seq,
        reading,
    })
}

/// Appends the JSON of `signal` to `out`: field order fixed, no allocation, no whitespace.
///
/// The same signal always gives the same bytes, which is what makes runs reproducible.
pub fn encode_into(signal: &Signal<'_>, out: &mut Vec<u8>) {
    let mut ints = itoa::Buffer::new();
    out.extend_from_slice(b"{\"timestamp\":");
    out.extend_from_slice(ints.format(signal.timestamp_ms).as_bytes());
    out.extend_from_slice(b",\"charger_id\":");
    write_str(out, &signal.charger_id);
    match &signal.reading {
        Reading::Parking {
            vehicle_detected,
            plate,
        } => {
            out.extend_from_slice(b",\"vehicle_detected\":");
            write_bool(out, *vehicle_detected);
            out.extend_from_slice(b",\"plate\":");
            write_opt_str(out, plate.as_deref());
        }
        Reading::UserData {
            user_connection,
            user_id,
            price,
        } => {
            out.extend_from_slice(b",\"user_id\":");
            write_opt_str(out, user_id.as_deref());
            out.extend_from_slice(b",\"price\":");
            match price {
                Some(p) if p.is_finite() => {
                    out.extend_from_slice(ryu::Buffer::new().format_finite(*p).as_bytes())
                }
                _ => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"user_connection\":");
            write_bool(out, *user_connection);
        }
        Reading::Charger {
            recharging,
            energy_delivered,
        } => {
            out.extend_from_slice(b",\"recharging\":");
            write_bool(out, *recharging);
            out.extend_from_slice(b",\"energy_delivered\":");
            out.extend_from_slice(ints.format(*energy_delivered).as_bytes());
        }
    }
    if let Some(seq) = signal.seq {
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(ints.format(seq).as_bytes());
    }
    out.push(b'}');
}

fn write_bool(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

fn write_opt_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string; the fast path (no character needing an escape) is a plain copy.
fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(s.as_bytes());
    } else {
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
                }
                c => {
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_str(s: &str) -> Result<Signal<'_>> {
        decode(s.as_bytes())
    }

    #[test]
    fn decodes_the_study_format() {
        let s = decode_str(r#"{"timestamp": 1700000000, "charger_id": "charger-7", "vehicle_detected": true, "plate": "AB12CD34"}"#).unwrap();
        assert_eq!(s.timestamp_ms, 1_700_000_000_000);
        assert_eq!(
            s.reading,
            Reading::Parking {
                vehicle_detected: true,
                plate: Some("AB12CD34".into())
            }
        );

        let s = decode_str(r#"{"timestamp": "2023-11-14 22:13:20", "charger_id": "charger-7", "user_id": "U", "price": 0.57, "user_connection": true}"#).unwrap();
        assert_eq!(s.reading.sensor(), Sensor::UserData);

        let s = decode_str(r#"{"timestamp": 1700000000.5, "charger_id": "c", "recharging": false, "energy_delivered": 0, "extra": [1]}"#).unwrap();
        assert_eq!(s.timestamp_ms, 1_700_000_000_500);
        assert_eq!(
            s.reading,
            Reading::Charger {
                recharging: false,
                energy_delivered: 0
            }
        );
    }

    #[test]
    fn rejects_with_reasons() {
        assert!(matches!(decode_str("{"), Err(Error::Json { .. })));
        assert!(matches!(
            decode_str(r#"{"timestamp":1,"charger_id":"c"}"#),
            Err(Error::UnknownSensor)
        ));
        assert!(matches!(
            decode_str(
                r#"{"timestamp":1,"charger_id":"c","recharging":true,"vehicle_detected":true}"#
            ),
            Err(Error::AmbiguousSensor)
        ));
        assert!(matches!(
            decode_str(r#"{"charger_id":"c","recharging":true}"#),
            Err(Error::MissingField("timestamp"))
        ));
        assert!(matches!(
            decode_str(r#"{"timestamp":1,"charger_id":"c","user_connection":true,"price":-1}"#),
            Err(Error::Impossible(_))
        ));
        assert!(matches!(
            decode_str(
                r#"{"timestamp":1,"charger_id":"c","recharging":true,"energy_delivered":-3}"#
            ),
            Err(Error::Json { .. })
        ));
    }

    fn arb_signal() -> impl Strategy<Value = Signal<'static>> {
        let text = "[ -~]{0,20}";
        let reading = prop_oneof![
            (any::<bool>(), proptest::option::of(text)).prop_map(|(v, p)| Reading::Parking {
                vehicle_detected: v,
                plate: p.map(Cow::Owned)
            }),
            (
                any::<bool>(),
                proptest::option::of(text),
                proptest::option::of(0u32..10_000)
            )
                .prop_map(|(c, u, cents)| Reading::UserData {
                    user_connection: c,
                    user_id: u.map(Cow::Owned),
                    price: cents.map(|c| f64::from(c) / 100.0),
                }),
            (any::<bool>(), any::<u32>()).prop_map(|(r, e)| Reading::Charger {
                recharging: r,
                energy_delivered: e
            }),
        ];
        (
            100_000_000_000i64..4_000_000_000_000,
            "[ -~]{1,20}",
            proptest::option::of(any::<u64>()),
            reading,
        )
            .prop_map(|(t, c, seq, reading)| Signal {
                timestamp_ms: t,
                charger_id: Cow::Owned(c),
                seq,
                reading,
            })
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(signal in arb_signal()) {
            let mut buf = Vec::new();
            encode_into(&signal, &mut buf);
            let decoded = decode(&buf).unwrap().into_owned();
            prop_assert_eq!(decoded, signal);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
