//! Small, fixed-size building blocks of the per-charger state: ordering keys, inline strings,
//! fingerprints and a fast hasher for charger ids.

use std::hash::{BuildHasherDefault, Hasher};

/// The canonical order of a charger's signals: event time, then the producer's `seq` when it
/// sends one, else the order in which the signals came in (ties keep input order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    pub ts: i64,
    pub tb: u64,
}

impl Key {
    pub const MIN: Key = Key {
        ts: i64::MIN,
        tb: 0,
    };

    /// The smallest key above `self`.
    pub fn succ(self) -> Key {
        match self.tb.checked_add(1) {
            Some(tb) => Key { ts: self.ts, tb },
            None => Key {
                ts: self.ts.saturating_add(1),
                tb: 0,
            },
        }
    }
}

/// `len` of an [`Inline`] that holds nothing (`None`).
const ABSENT: u8 = 0xFE;
/// `len` of an [`Inline`] whose text did not fit and lives in the sessionizer's spill map.
const SPILLED: u8 = 0xFF;

/// An optional string of at most `N` bytes stored inline (plates are 8 bytes, user ids 16 in the
/// study); longer ones are marked spilled and kept elsewhere by the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inline<const N: usize> {
    bytes: [u8; N],
    len: u8,
}

/// What an [`Inline`] holds.
pub(crate) enum InlineText<'a> {
    Absent,
    Text(&'a [u8]),
    Spilled,
}

impl<const N: usize> Inline<N> {
    pub const NONE: Self = Inline {
        bytes: [0; N],
        len: ABSENT,
    };
    pub const SPILL: Self = Inline {
        bytes: [0; N],
        len: SPILLED,
    };

    /// `Some(inline)` when `text` fits (or is `None`), `None` when it must be spilled.
    pub fn new(text: Option<&[u8]>) -> Option<Self> {
        match text {
            None => Some(Self::NONE),
            Some(s) if s.len() <= N && N < usize::from(ABSENT) => {
                let mut bytes = [0; N];
                bytes[..s.len()].copy_from_slice(s);
                Some(Inline {
                    bytes,
                    len: s.len() as u8,
                })
            }
            Some(_) => None,
        }
    }

    pub fn view(&self) -> InlineText<'_> {
        match self.len {
            ABSENT => InlineText::Absent,
            SPILLED => InlineText::Spilled,
            n => InlineText::Text(&self.bytes[..usize::from(n).min(N)]),
        }
    }

    /// Whether it holds exactly `text` inline.
    #[inline]
    pub fn holds(&self, text: &[u8]) -> bool {
        if usize::from(self.len) != text.len() || text.len() > N {
            return false;
        }
        // Compare whole padded arrays: a few word compares instead of a `memcmp` call.
        let mut padded = [0u8; N];
        padded[..text.len()].copy_from_slice(text);
        padded == self.bytes
    }

    pub fn is_spilled(&self) -> bool {
        self.len == SPILLED
    }
}

/// FxHash (the rustc hasher): a multiply-rotate hash, much faster than SipHash for short keys.
/// Charger ids come from our own input, not from an adversary that could flood one bucket.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `HashMap` builder using [`FxHasher`].
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// A 32-bit fingerprint of a signal's content, used to recognise duplicates of the signals of a
/// visit that was already emitted.
pub(crate) fn fingerprint(
    kind: u8,
    ts: i64,
    seq: Option<u64>,
    text: Option<&[u8]>,
    price: Option<f64>,
    power: u32,
) -> u32 {
    let mut h = FxHasher::default();
    h.write_u8(kind);
    h.write_u64(ts as u64);
    match seq {
        Some(s) => {
            h.write_u8(1);
            h.write_u64(s);
        }
        None => h.write_u8(0),
    }
    match text {
        Some(t) => {
            h.write_u8(1);
            h.write(t);
        }
        None => h.write_u8(0),
    }
    h.write_u64(price.map_or(u64::MAX, f64::to_bits));
    h.write_u32(power);
    // Mix the high bits down so that the truncation keeps all of them in play.
    let x = h.finish();
    let x = (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x ^ (x >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_holds_what_fits() {
        let p = Inline::<8>::new(Some(b"AB12CD34")).unwrap();
        assert!(matches!(p.view(), InlineText::Text(b"AB12CD34")));
        assert!(p.holds(b"AB12CD34") && !p.holds(b"AB12CD3"));
        assert!(Inline::<8>::new(Some(b"AB12CD345")).is_none());
        assert!(matches!(
            Inline::<8>::new(None).unwrap().view(),
            InlineText::Absent
        ));
        assert!(matches!(
            Inline::<8>::new(Some(b"")).unwrap().view(),
            InlineText::Text(b"")
        ));
        assert!(Inline::<8>::SPILL.is_spilled());
    }

    #[test]
    fn keys_order_by_time_then_tiebreak() {
        let a = Key { ts: 5, tb: 9 };
        let b = Key { ts: 6, tb: 0 };
        assert!(a < b);
        assert!(a < a.succ() && a.succ() < b);
        assert_eq!(
            Key {
                ts: 1,
                tb: u64::MAX
            }
            .succ(),
            Key { ts: 2, tb: 0 }
        );
    }

    #[test]
    fn fingerprints_see_every_field() {
        let u: Option<&[u8]> = Some(b"U");
        let base = fingerprint(1, 10, Some(3), u, Some(0.5), 0);
        assert_eq!(base, fingerprint(1, 10, Some(3), u, Some(0.5), 0));
        assert_ne!(base, fingerprint(2, 10, Some(3), u, Some(0.5), 0));
        assert_ne!(base, fingerprint(1, 11, Some(3), u, Some(0.5), 0));
        assert_ne!(base, fingerprint(1, 10, None, u, Some(0.5), 0));
        assert_ne!(base, fingerprint(1, 10, Some(3), Some(b"V"), Some(0.5), 0));
        assert_ne!(base, fingerprint(1, 10, Some(3), u, Some(0.6), 0));
        assert_ne!(base, fingerprint(1, 10, Some(3), u, Some(0.5), 1));
    }
}
