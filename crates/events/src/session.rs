//! The charging session: one record per vehicle visit, from arrival to departure.
//!
//! Both the simulator's ground truth and the aggregator build sessions through [`Session::new`],
//! so energy, revenue, durations and the overstay rule are computed by one piece of arithmetic and
//! compare exactly (no float tolerance is needed between them).

use serde::{Deserialize, Serialize};

/// How a visit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The vehicle charged.
    Charged,
    /// The vehicle parked and left without charging: a no-charge violation.
    NoCharge,
}

impl Outcome {
    /// The name stored and shown (`charged`, `no_charge`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Charged => "charged",
            Outcome::NoCharge => "no_charge",
        }
    }
}

/// What the aggregator inferred or repaired to close a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// No `user_connection=false` arrived before the vehicle left; the disconnect was inferred.
    InferredUserDisconnect,
    /// No `recharging=false` arrived before the vehicle left; charging was taken to end at departure.
    InferredChargeEnd,
    /// No departure arrived within the inactivity gap; the visit was closed at its last signal.
    ClosedByInactivity,
    /// A new arrival came while a vehicle was still parked; the previous visit was closed there.
    ClosedByNextArrival,
    /// Charging started without a user identification.
    ChargeWithoutIdentification,
}

/// The moments of a visit, epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionTimes {
    pub arrived_at: i64,
    pub identified_at: Option<i64>,
    pub charge_started_at: Option<i64>,
    pub charge_ended_at: Option<i64>,
    pub departed_at: i64,
}

/// One visit, as stored in `charging-sessions` and in ClickHouse. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `<charger_id>@<arrived_at>`, with `#n` appended for the n-th further visit of the same
    /// charger that arrived in the same millisecond (possible only with second-resolution producers).
    pub session_id: String,
    pub charger_id: String,
    pub plate: Option<String>,
    pub arrived_at: i64,
    pub identified_at: Option<i64>,
    pub user_id: Option<String>,
    pub price_eur_per_kwh: Option<f64>,
    pub charge_started_at: Option<i64>,
    pub charge_ended_at: Option<i64>,
    pub power_kw: Option<u32>,
    pub departed_at: i64,
    /// `power_kw × charging hours`.
    pub energy_kwh: f64,
    /// `energy_kwh × price_eur_per_kwh`.
    pub revenue_eur: f64,
    pub dwell_ms: i64,
    pub charging_ms: i64,
    /// From charge end to departure; `null` when the vehicle never charged.
    pub idle_after_charge_ms: Option<i64>,
    pub outcome: Outcome,
    /// Idle after charging longer than the profile's grace period.
    pub overstay: bool,
    #[serde(default)]
    pub flags: Vec<Flag>,
}

/// Who, at what price, with what power: the parts of a session that are not times.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionParties {
    pub charger_id: String,
    pub plate: Option<String>,
    pub user_id: Option<String>,
    pub price_eur_per_kwh: Option<f64>,
    pub power_kw: Option<u32>,
}

impl Session {
    /// The deterministic id of a visit (see [`Session::session_id`]).
    pub fn id_for(charger_id: &str, arrived_at: i64, ordinal_in_millisecond: u32) -> String {
        if ordinal_in_millisecond == 0 {
            format!("{charger_id}@{arrived_at}")
        } else {
            format!("{charger_id}@{arrived_at}#{ordinal_in_millisecond}")
        }
    }

    /// Builds a session and derives energy, revenue, durations, outcome and the overstay rule
    /// (`idle_after_charge_ms > overstay_grace_ms`).
    pub fn new(
        session_id: String,
        parties: SessionParties,
        times: SessionTimes,
        overstay_grace_ms: i64,
        mut flags: Vec<Flag>,
    ) -> Session {
        let charging_ms = match (times.charge_started_at, times.charge_ended_at) {
            (Some(start), Some(end)) => (end - start).max(0),
            _ => 0,
        };
        let power_kw = parties.power_kw;
        let energy_kwh = energy_kwh(power_kw.unwrap_or(0), charging_ms);
        let revenue_eur = energy_kwh * parties.price_eur_per_kwh.unwrap_or(0.0);
        let idle_after_charge_ms = times
            .charge_ended_at
            .map(|end| (times.departed_at - end).max(0));
        let outcome = if times.charge_started_at.is_some() {
            Outcome::Charged
        } else {
            Outcome::NoCharge
        };
        flags.sort_unstable();
        flags.dedup();
        Session {
            session_id,
            charger_id: parties.charger_id,
            plate: parties.plate,
            arrived_at: times.arrived_at,
            identified_at: times.identified_at,
            user_id: parties.user_id,
            price_eur_per_kwh: parties.price_eur_per_kwh,
            charge_started_at: times.charge_started_at,
            charge_ended_at: times.charge_ended_at,
            power_kw,
            departed_at: times.departed_at,
            energy_kwh,
            revenue_eur,
            dwell_ms: times.departed_at - times.arrived_at,
            charging_ms,
            idle_after_charge_ms,
            outcome,
            overstay: idle_after_charge_ms.is_some_and(|idle| idle > overstay_grace_ms),
            flags,
        }
    }

    /// The names of the fields in which `self` and `other` differ (empty when equal).
    pub fn differing_fields(&self, other: &Session) -> Vec<&'static str> {
        let mut out = Vec::new();
        macro_rules! cmp {
            ($($f:ident),*) => { $( if self.$f != other.$f { out.push(stringify!($f)); } )* };
        }
        cmp!(
            session_id,
            charger_id,
            plate,
            arrived_at,
            identified_at,
            user_id,
            price_eur_per_kwh,
            charge_started_at,
            charge_ended_at,
            power_kw,
            departed_at,
            energy_kwh,
            revenue_eur,
            dwell_ms,
            charging_ms,
            idle_after_charge_ms,
            outcome,
            overstay,
            flags
        );
        out
    }
}

/// kWh delivered at `power_kw` for `charging_ms`.
pub fn energy_kwh(power_kw: u32, charging_ms: i64) -> f64 {
    f64::from(power_kw) * charging_ms as f64 / 3_600_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charged(idle_ms: i64) -> Session {
        let times = SessionTimes {
            arrived_at: 0,
            identified_at: Some(120_000),
            charge_started_at: Some(180_000),
            charge_ended_at: Some(180_000 + 30 * 60_000),
            departed_at: 180_000 + 30 * 60_000 + idle_ms,
        };
        let parties = SessionParties {
            charger_id: "charger-1".into(),
            plate: Some("AB12CD34".into()),
            user_id: Some("U".repeat(16)),
            price_eur_per_kwh: Some(0.5),
            power_kw: Some(20),
        };
        Session::new(
            Session::id_for("charger-1", 0, 0),
            parties,
            times,
            6 * 60_000,
            vec![],
        )
    }

    #[test]
    fn derives_energy_revenue_and_durations() {
        let s = charged(3 * 60_000);
        assert_eq!(s.charging_ms, 30 * 60_000);
        assert_eq!(s.energy_kwh, 10.0);
        assert_eq!(s.revenue_eur, 5.0);
        assert_eq!(s.dwell_ms, 36 * 60_000);
        assert_eq!(s.outcome, Outcome::Charged);
        assert!(!s.overstay);
        assert!(charged(7 * 60_000).overstay);
    }

    #[test]
    fn json_uses_the_contract_names() {
        let json = serde_json::to_value(charged(0)).unwrap();
        for key in [
            "session_id",
            "charger_id",
            "plate",
            "arrived_at",
            "identified_at",
            "user_id",
            "price_eur_per_kwh",
            "charge_started_at",
            "charge_ended_at",
            "power_kw",
            "departed_at",
            "energy_kwh",
            "revenue_eur",
            "dwell_ms",
            "charging_ms",
            "idle_after_charge_ms",
            "outcome",
            "overstay",
            "flags",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_eq!(json["outcome"], "charged");
        let back: Session = serde_json::from_value(json).unwrap();
        assert_eq!(back, charged(0));
    }

    #[test]
    fn differing_fields_names_them() {
        let mut other = charged(0);
        other.plate = None;
        other.revenue_eur += 1.0;
        assert_eq!(
            charged(0).differing_fields(&other),
            vec!["plate", "revenue_eur"]
        );
    }
}
