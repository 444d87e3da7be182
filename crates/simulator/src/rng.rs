//! The simulator's own random numbers: SplitMix64 to seed, xoshiro256** per charger.
//!
//! Implemented here rather than taken from a crate so that the events of a seed never change
//! with a dependency upgrade. Every operation is integer arithmetic, identical on every platform.

/// The 64-bit golden ratio, SplitMix64's increment.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective mix of 64 bits.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64 (Steele, Lea, Flood 2014): expands one seed into the xoshiro states, and draws
/// the seeded fault injections of the producer. The project's one copy of it.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with `probability` (never for 0 or less, which draws nothing and so leaves the
    /// stream where it was).
    pub fn chance(&mut self, probability: f64) -> bool {
        probability > 0.0 && self.next_f64() <= probability
    }
}

/// xoshiro256** 1.0 (Blackman, Vigna 2018): one independent stream per charger.
#[derive(Debug, Clone)]
pub(crate) struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// The stream of charger `index` under `seed`. For a fixed seed, distinct indices get distinct
    /// SplitMix64 seeds (the map is a bijection), so streams never coincide; the stream of a
    /// charger depends on nothing but `(seed, index)`, so adding chargers leaves the others alone.
    pub(crate) fn for_charger(seed: u64, index: u32) -> Self {
        let base = mix64(seed ^ 0x6576_6265_6E63_6821); // "evbench!"
        let mut sm = SplitMix64::new(mix64(base ^ u64::from(index).wrapping_mul(GOLDEN)));
        let mut s = [0u64; 4];
        for word in &mut s {
            *word = sm.next_u64();
        }
        if s == [0; 4] {
            // The one state xoshiro cannot leave; SplitMix64 never yields it, but be explicit.
            s[0] = GOLDEN;
        }
        Xoshiro256 { s }
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` without bias (Lemire's multiply-and-reject); `n` must be > 0.
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// Uniform in `lo..=hi` (`lo <= hi`).
    #[inline]
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        match (hi - lo).checked_add(1) {
            Some(n) => lo + self.below(n),
            None => self.next_u64(),
        }
    }

    /// True with the probability encoded by `chance`.
    #[inline]
    pub(crate) fn hit(&mut self, chance: Chance) -> bool {
        (self.next_u64() >> 11) < chance.0
    }
}

/// A probability as a threshold on 53 random bits: exact for every `f64` in `[0, 1]` that is a
/// multiple of 2^-53 (all of them down to 2^-53), `0` never hits and `1` always does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chance(u64);

impl Chance {
    /// `p` must be in `[0, 1]` (the profile is validated before this is called).
    pub(crate) fn new(p: f64) -> Self {
        // Scaling by a power of two is exact; the cast truncates below 2^-53.
        Chance((p.clamp(0.0, 1.0) * (1u64 << 53) as f64) as u64)
    }

    /// Whether this chance never hits.
    pub(crate) fn is_never(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs of SplitMix64 seeded with 0 (reference implementation).
        let mut sm = SplitMix64::new(0);
        assert_eq!(sm.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(sm.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn xoshiro_reference_values() {
        // xoshiro256** with state [1, 2, 3, 4]: the reference C implementation's first outputs.
        let mut x = Xoshiro256 { s: [1, 2, 3, 4] };
        let got: Vec<u64> = (0..4).map(|_| x.next_u64()).collect();
        assert_eq!(
            got,
            vec![11_520, 0, 1_509_978_240, 1_215_971_899_390_074_240]
        );
    }

    #[test]
    fn streams_differ_per_charger_and_seed() {
        let a = Xoshiro256::for_charger(1, 0).next_u64();
        let b = Xoshiro256::for_charger(1, 1).next_u64();
        let c = Xoshiro256::for_charger(2, 0).next_u64();
        assert!(a != b && a != c && b != c);
        assert_eq!(a, Xoshiro256::for_charger(1, 0).next_u64());
    }

    #[test]
    fn chance_extremes() {
        let mut x = Xoshiro256::for_charger(7, 7);
        assert!((0..10_000).all(|_| x.hit(Chance::new(1.0))));
        assert!((0..10_000).all(|_| !x.hit(Chance::new(0.0))));
    }

    #[test]
    fn between_covers_bounds() {
        let mut x = Xoshiro256::for_charger(3, 9);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = x.between(10, 14);
            assert!((10..=14).contains(&v));
            seen[(v - 10) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(x.between(5, 5), 5);
        let _ = x.between(0, u64::MAX);
    }
}
