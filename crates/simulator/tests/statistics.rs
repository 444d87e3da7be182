//! The simulated fleet matches its profile statistically, over more than 100 000 visits with a
//! fixed seed. Every bound is derived from the sample size: a count of `n` trials of probability
//! `p` must lie within 5 standard deviations, `n·p ± 5·sqrt(n·p·(1-p))`; a mean of `n` draws of a
//! distribution with standard deviation `σ` within `μ ± 5·σ/sqrt(n)`.

mod common;

use std::collections::HashMap;

use events::{Outcome, Session};
use simulator::{DurationRange, FleetConfig, IntRange, Profile, Simulator};

const SIGMAS: f64 = 5.0;

/// Asserts that `hits` successes out of `n` trials agree with probability `p`.
fn assert_binomial(what: &str, hits: u64, n: u64, p: f64) {
    let (nf, hf) = (n as f64, hits as f64);
    let sd = (nf * p * (1.0 - p)).sqrt();
    let (lo, hi) = (nf * p - SIGMAS * sd, nf * p + SIGMAS * sd);
    assert!(
        (lo..=hi).contains(&hf),
        "{what}: {hits} of {n} (share {:.5}) outside [{lo:.1}, {hi:.1}] for p = {p}",
        hf / nf
    );
}

/// Asserts that the sample mean of `values` agrees with `mean` given the distribution's `sd`.
fn assert_mean(what: &str, values: &[f64], mean: f64, sd: f64) {
    let n = values.len() as f64;
    let got = values.iter().sum::<f64>() / n;
    let tolerance = SIGMAS * sd / n.sqrt();
    assert!(
        (got - mean).abs() <= tolerance,
        "{what}: mean {got:.3} differs from {mean:.3} by more than {tolerance:.3} (n = {n})"
    );
}

/// Draws of a range: all within bounds, each tenth of the range holding its share, mean right.
fn assert_uniform_ms(what: &str, values: &[i64], range: DurationRange) {
    assert!(values.len() > 1000, "{what}: only {} values", values.len());
    let (a, b) = (range.min_ms() as i64, range.max_ms() as i64);
    assert!(
        values.iter().all(|v| (a..=b).contains(v)),
        "{what}: value outside {range}"
    );
    let width = (b - a + 1) as f64; // discrete uniform over a..=b
    let n = values.len() as u64;
    const BINS: i64 = 10;
    let mut counts = [0u64; BINS as usize];
    for v in values {
        counts[((v - a) * BINS / (b - a + 1)) as usize] += 1;
    }
    for (bin, count) in counts.iter().enumerate() {
        // Exact share of bin `bin`: the integers k in a..=b with (k-a)*BINS/(width) == bin.
        let len = (b - a + 1) as u64;
        let first = (bin as u64 * len).div_ceil(BINS as u64);
        let next = ((bin as u64 + 1) * len).div_ceil(BINS as u64);
        let p = (next - first) as f64 / width;
        assert_binomial(&format!("{what} bin {bin}"), *count, n, p);
    }
    let floats: Vec<f64> = values.iter().map(|v| *v as f64).collect();
    let sd = ((width * width - 1.0) / 12.0).sqrt();
    assert_mean(what, &floats, (a + b) as f64 / 2.0, sd);
}

/// Integer draws: all within bounds, every value holding its `1/(max-min+1)` share.
fn assert_uniform_ints(what: &str, values: &[u32], range: IntRange) {
    let k = u64::from(range.max - range.min + 1);
    let mut counts: HashMap<u32, u64> = HashMap::new();
    for v in values {
        assert!(
            (range.min..=range.max).contains(v),
            "{what}: {v} outside {range}"
        );
        *counts.entry(*v).or_default() += 1;
    }
    for v in range.min..=range.max {
        let c = counts.get(&v).copied().unwrap_or(0);
        assert_binomial(
            &format!("{what} = {v}"),
            c,
            values.len() as u64,
            1.0 / k as f64,
        );
    }
}

#[test]
fn a_hundred_thousand_visits_match_the_study_profile() {
    let profile = Profile::study();
    let config = FleetConfig {
        chargers: 10_000,
        seed: 20_260_101,
        span_ms: 8 * 3_600_000,
        profile: profile.clone(),
        ..FleetConfig::default()
    };
    let mut sim = Simulator::new(config.clone()).unwrap();
    let mut buf = Vec::new();
    let mut sessions: Vec<Session> = Vec::new();
    while sim.next_event(&mut buf).is_some() {
        if sim.pending_sessions() > 0 {
            sim.take_completed_sessions(|s| sessions.push(s));
        }
    }
    let n = sessions.len() as u64;
    assert!(n >= 100_000, "only {n} visits");
    let summary = sim.summary();
    assert_eq!(summary.sessions, n);

    // No-charge share.
    let no_charge = sessions
        .iter()
        .filter(|s| s.outcome == Outcome::NoCharge)
        .count() as u64;
    assert_eq!(no_charge, summary.no_charge);
    assert_binomial(
        "no-charge share",
        no_charge,
        n,
        profile.no_charge_probability,
    );

    let charged: Vec<&Session> = sessions
        .iter()
        .filter(|s| s.outcome == Outcome::Charged)
        .collect();
    let nc = charged.len() as u64;

    // Overstay share among charged visits (the study's grace separates the two idle ranges, so
    // the rule and the draw agree).
    assert!(profile.grace_separates_idles());
    let overstays = charged.iter().filter(|s| s.overstay).count() as u64;
    assert_eq!(overstays, summary.overstays);
    assert_binomial(
        "overstay share",
        overstays,
        nc,
        profile.overstay_probability,
    );

    // Prices (whole cents) and powers.
    let cents: Vec<u32> = charged
        .iter()
        .map(|s| {
            let p = s.price_eur_per_kwh.unwrap();
            let c = (p * 100.0).round() as u32;
            assert_eq!(f64::from(c) / 100.0, p, "price {p} is not whole cents");
            c
        })
        .collect();
    assert_uniform_ints("price (cents)", &cents, profile.price_cents);
    let powers: Vec<u32> = charged.iter().map(|s| s.power_kw.unwrap()).collect();
    assert_uniform_ints("power (kW)", &powers, profile.power_kw);

    // Durations.
    let no_charge_waits: Vec<i64> = sessions
        .iter()
        .filter(|s| s.outcome == Outcome::NoCharge)
        .map(|s| s.dwell_ms)
        .collect();
    assert_uniform_ms("no-charge wait", &no_charge_waits, profile.no_charge_wait);
    let ident: Vec<i64> = charged
        .iter()
        .map(|s| s.identified_at.unwrap() - s.arrived_at)
        .collect();
    assert_uniform_ms("identification delay", &ident, profile.identification_delay);
    let start: Vec<i64> = charged
        .iter()
        .map(|s| s.charge_started_at.unwrap() - s.identified_at.unwrap())
        .collect();
    assert_uniform_ms("charge start delay", &start, profile.charge_start_delay);
    let charging: Vec<i64> = charged.iter().map(|s| s.charging_ms).collect();
    assert_uniform_ms("charging duration", &charging, profile.charging_duration);
    let idle = |over: bool| -> Vec<i64> {
        charged
            .iter()
            .filter(|s| s.overstay == over)
            .map(|s| s.idle_after_charge_ms.unwrap())
            .collect()
    };
    assert_uniform_ms("overstay idle", &idle(true), profile.overstay_idle);
    assert_uniform_ms("normal idle", &idle(false), profile.normal_idle);

    // Energy and revenue follow from power, time and price.
    for s in &charged {
        let energy = f64::from(s.power_kw.unwrap()) * s.charging_ms as f64 / 3_600_000.0;
        assert_eq!(s.energy_kwh, energy);
        assert_eq!(s.revenue_eur, energy * s.price_eur_per_kwh.unwrap());
    }

    // Arrivals: the free time before a vehicle is a whole number k >= 1 of ticks, geometric with
    // the arrival probability (P(k = 1) = p, mean 1/p, variance (1-p)/p^2). Only departures at
    // least 60 ticks before the end of the span are used, so the end does not truncate the gap
    // (P(k > 60) = 0.7^60 < 1e-9).
    let tick = profile.arrival_tick.as_millis() as i64;
    let end = config.start_ms + config.span_ms;
    let p = profile.arrival_probability;
    let mut by_charger: HashMap<&str, Vec<&Session>> = HashMap::new();
    for s in &sessions {
        by_charger.entry(&s.charger_id).or_default().push(s);
    }
    let mut gaps = Vec::new();
    for visits in by_charger.values_mut() {
        visits.sort_by_key(|s| s.arrived_at);
        for pair in visits.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            if before.departed_at + 60 * tick <= end {
                let gap = after.arrived_at - before.departed_at;
                assert_eq!(gap % tick, 0, "gap {gap} is not a whole number of ticks");
                gaps.push(gap / tick);
            }
        }
    }
    assert!(gaps.len() > 50_000, "{} gaps", gaps.len());
    assert!(gaps.iter().all(|k| *k >= 1));
    let first_tick = gaps.iter().filter(|k| **k == 1).count() as u64;
    assert_binomial(
        "arrival at the first tick",
        first_tick,
        gaps.len() as u64,
        p,
    );
    let gaps_f: Vec<f64> = gaps.iter().map(|k| *k as f64).collect();
    assert_mean(
        "ticks before arrival",
        &gaps_f,
        1.0 / p,
        (1.0 - p).sqrt() / p,
    );

    // Plates and user ids: 36 characters, each equally likely.
    let mut chars: HashMap<u8, u64> = HashMap::new();
    let mut total = 0u64;
    for s in &sessions {
        for c in s
            .plate
            .as_deref()
            .unwrap()
            .bytes()
            .chain(s.user_id.as_deref().unwrap_or("").bytes())
        {
            *chars.entry(c).or_default() += 1;
            total += 1;
        }
    }
    assert_eq!(chars.len(), 36);
    for (c, count) in &chars {
        assert!(c.is_ascii_uppercase() || c.is_ascii_digit());
        assert_binomial(
            &format!("character {}", *c as char),
            *count,
            total,
            1.0 / 36.0,
        );
    }
}
