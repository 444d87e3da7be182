//! The fast path of [`crate::decode`] for the signals evbench's own producers write.
//!
//! [`crate::encode_into`] writes every signal with the same field order and no whitespace. This
//! module reads exactly that layout with a byte scanner, several times faster than serde;
//! anything else — other field orders, whitespace, escapes, non-ASCII text, odd numbers,
//! unknown fields — returns `None` and goes through the general decoder. Where the fast path
//! answers, its answer is the general decoder's (a property test checks it on arbitrary signals
//! and on corrupted bytes).

use std::borrow::Cow;

use crate::{Reading, Signal};

/// Decodes `bytes` when they are in `events::encode_into`'s exact layout; `None` otherwise.
pub(crate) fn decode_canonical(bytes: &[u8]) -> Option<Signal<'_>> {
    let mut p = Parser { b: bytes, i: 0 };
    p.lit(b"{\"timestamp\":")?;
    let raw_ts = p.int(18)?;
    let timestamp_ms = crate::time::from_integer(i64::try_from(raw_ts).ok()?).ok()?;
    p.lit(b",\"charger_id\":")?;
    let charger_id = p.string()?;
    if charger_id.is_empty() {
        return None;
    }
    p.lit(b",\"")?;
    let reading = match p.peek()? {
        b'v' => {
            p.lit(b"vehicle_detected\":")?;
            let vehicle_detected = p.boolean()?;
            p.lit(b",\"plate\":")?;
            let plate = p.opt_string()?;
            Reading::Parking {
                vehicle_detected,
                plate: plate.map(Cow::Borrowed),
            }
        }
        b'u' => {
            p.lit(b"user_id\":")?;
            let user_id = p.opt_string()?;
            p.lit(b",\"price\":")?;
            let price = p.opt_price()?;
            p.lit(b",\"user_connection\":")?;
            let user_connection = p.boolean()?;
            Reading::UserData {
                user_connection,
                user_id: user_id.map(Cow::Borrowed),
                price,
            }
        }
        b'r' => {
            p.lit(b"recharging\":")?;
            let recharging = p.boolean()?;
            p.lit(b",\"energy_delivered\":")?;
            let energy_delivered = u32::try_from(p.int(10)?).ok()?;
            Reading::Charger {
                recharging,
                energy_delivered,
            }
        }
        _ => return None,
    };
    let seq = if p.peek()? == b',' {
        p.lit(b",\"seq\":")?;
        Some(p.int(20)?)
    } else {
        None
    };
    p.lit(b"}")?;
    if p.i != bytes.len() {
        return None;
    }
    Some(Signal {
        timestamp_ms,
        charger_id: Cow::Borrowed(charger_id),
        seq,
        reading,
    })
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        let end = self.i.checked_add(lit.len())?;
        (self.b.get(self.i..end)? == lit).then(|| self.i = end)
    }

    /// A JSON unsigned integer of at most `max_digits` digits (no sign, no leading zero).
    #[inline]
    fn int(&mut self, max_digits: usize) -> Option<u64> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        let n = self.i - start;
        if n == 0 || n > max_digits || (n > 1 && self.b[start] == b'0') {
            return None;
        }
        Some(v)
    }

    /// A JSON string of printable ASCII without escapes, borrowed.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        self.lit(b"\"")?;
        let start = self.i;
        let rest = &self.b[start..];
        for (len, &c) in rest.iter().enumerate() {
            match c {
                b'"' => {
                    self.i = start + len + 1;
                    // Printable ASCII only (checked below): always UTF-8.
                    return std::str::from_utf8(&rest[..len]).ok();
                }
                b'\\' | 0..=0x1f | 0x7f.. => return None,
                _ => {}
            }
        }
        None
    }

    #[inline]
    fn opt_string(&mut self) -> Option<Option<&'a str>> {
        if self.lit(b"null").is_some() {
            return Some(None);
        }
        self.string().map(Some)
    }

    #[inline]
    fn boolean(&mut self) -> Option<bool> {
        if self.lit(b"true").is_some() {
            Some(true)
        } else {
            self.lit(b"false").map(|()| false)
        }
    }

    /// A non-negative JSON number (or `null`), bit for bit as serde_json reads it: plain
    /// decimals of up to 15 significant digits are `digits / 10^places` (one correctly rounded
    /// division, which is what serde_json computes for them too); anything else is handed to
    /// serde_json's own number parser.
    fn opt_price(&mut self) -> Option<Option<f64>> {
        if self.lit(b"null").is_some() {
            return Some(None);
        }
        let start = self.i;
        while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = self.peek() {
            self.i += 1;
        }
        let text = &self.b[start..self.i];
        if text.is_empty() || text[0] == b'-' {
            return None;
        }
        if let Some(v) = plain_decimal(text) {
            return Some(Some(v));
        }
        let v: f64 = serde_json::from_slice(text).ok()?;
        v.is_finite().then_some(Some(v))
    }
}

/// `123.45` → 12345 / 10^2, when it is a plain JSON decimal of at most 15 digits.
fn plain_decimal(text: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (int, frac) = match text.iter().position(|&c| c == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &text[..0]),
    };
    let valid_int = !int.is_empty() && (int.len() == 1 || int[0] != b'0');
    let has_dot = int.len() < text.len();
    if !valid_int || (has_dot && frac.is_empty()) || int.len() + frac.len() > 15 {
        return None;
    }
    let mut m: u64 = 0;
    for &c in int.iter().chain(frac) {
        if !c.is_ascii_digit() {
            return None;
        }
        m = m * 10 + u64::from(c - b'0');
    }
    Some(m as f64 / POW10[frac.len()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fast path's answer, if any, against the general decoder's.
    fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Some(fast) = decode_canonical(bytes) {
            let general = crate::signal::decode_general(bytes);
            prop_assert!(general.is_ok(), "fast path took what the decoder refuses");
            prop_assert_eq!(fast, general.unwrap());
        }
        Ok(())
    }

    fn arb_signal() -> impl Strategy<Value = Signal<'static>> {
        let text = prop_oneof!["[A-Z0-9]{0,16}", "[ -~]{0,20}", "\\PC{0,6}"];
        let reading = prop_oneof![
            (any::<bool>(), proptest::option::of(text.clone())).prop_map(|(v, p)| {
                Reading::Parking {
                    vehicle_detected: v,
                    plate: p.map(Cow::Owned),
                }
            }),
            (
                any::<bool>(),
                proptest::option::of(text.clone()),
                proptest::option::of(prop_oneof![
                    (0u32..100_000).prop_map(|c| f64::from(c) / 100.0),
                    any::<f64>(),
                ])
            )
                .prop_map(|(c, u, price)| Reading::UserData {
                    user_connection: c,
                    user_id: u.map(Cow::Owned),
                    price,
                }),
            (any::<bool>(), any::<u32>()).prop_map(|(r, e)| Reading::Charger {
                recharging: r,
                energy_delivered: e,
            }),
        ];
        (
            prop_oneof![
                0i64..2_000_000_000,
                100_000_000_000i64..4_000_000_000_000,
                any::<i64>()
            ],
            text,
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
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Where the fast path answers, it answers as `events::decode` does.
        #[test]
        fn agrees_with_the_general_decoder(signal in arb_signal()) {
            let mut buf = Vec::new();
            crate::encode_into(&signal, &mut buf);
            check(&buf)?;
        }

        /// Also on corrupted bytes.
        #[test]
        fn agrees_on_corrupted_bytes(
            signal in arb_signal(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut buf = Vec::new();
            crate::encode_into(&signal, &mut buf);
            for (at, byte) in edits {
                let i = at.index(buf.len());
                buf[i] = byte;
            }
            check(&buf)?;
        }
    }

    #[test]
    fn prices_read_as_serde_json_reads_them() {
        for text in [
            "0.57",
            "0.5",
            "12.50",
            "0",
            "7",
            "0.001",
            "123456789.012345",
            "1e2",
        ] {
            let json = format!(
                r#"{{"timestamp":1700000000000,"charger_id":"c","user_id":null,"price":{text},"user_connection":true}}"#
            );
            let fast = decode_canonical(json.as_bytes()).unwrap();
            let general = crate::signal::decode_general(json.as_bytes()).unwrap();
            assert_eq!(fast, general, "{text}");
        }
        for cents in 0..100_000u32 {
            let signal = Signal {
                timestamp_ms: 1_700_000_000_000,
                charger_id: Cow::Borrowed("c"),
                seq: None,
                reading: Reading::UserData {
                    user_connection: false,
                    user_id: None,
                    price: Some(f64::from(cents) / 100.0),
                },
            };
            let mut buf = Vec::new();
            crate::encode_into(&signal, &mut buf);
            let fast = decode_canonical(&buf).unwrap();
            let Reading::UserData { price, .. } = fast.reading else {
                panic!("{fast:?}")
            };
            assert_eq!(
                price.map(f64::to_bits),
                Some((f64::from(cents) / 100.0).to_bits())
            );
        }
    }

    #[test]
    fn takes_evbench_signals_and_leaves_the_rest() {
        let ours = br#"{"timestamp":1700000000000,"charger_id":"charger-1","user_id":"U","price":0.57,"user_connection":true,"seq":3}"#;
        let s = decode_canonical(ours).unwrap();
        assert_eq!(s, crate::signal::decode_general(ours).unwrap());
        assert!(
            matches!(s.charger_id, Cow::Borrowed("charger-1")),
            "borrowed, not copied"
        );
        assert_eq!(s.seq, Some(3));
        for other in [
            &br#"{"timestamp": 1700000000000,"charger_id":"c","recharging":true,"energy_delivered":5}"#[..],
            br#"{"charger_id":"c","timestamp":1700000000000,"recharging":true,"energy_delivered":5}"#,
            br#"{"timestamp":1700000000000,"charger_id":"c\u0041","recharging":true,"energy_delivered":5}"#,
            br#"{"timestamp":"2023-11-14 22:13:20","charger_id":"c","recharging":true,"energy_delivered":5}"#,
            br#"{"timestamp":1700000000000,"charger_id":"c","recharging":true,"energy_delivered":05}"#,
            br#"{"timestamp":1700000000000,"charger_id":"","recharging":true,"energy_delivered":5}"#,
            br#"{"timestamp":1700000000000,"charger_id":"c","recharging":true,"energy_delivered":5} "#,
        ] {
            assert!(decode_canonical(other).is_none(), "{}", String::from_utf8_lossy(other));
        }
    }
}
