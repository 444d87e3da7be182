package dev.evbench.core;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.TreeSet;

/**
 * The charging session record: a port of {@code events::Session} with {@code Session::new}'s
 * arithmetic, operation for operation, and serde_json's serialisation (same field order, same
 * float text), so the doubles read back are those of the Rust sessionizer and the ground truth.
 */
public final class Session {
    public String sessionId;
    public String chargerId;
    public String plate;
    public long arrivedAt;
    public Long identifiedAt;
    public String userId;
    public Double priceEurPerKwh;
    public Long chargeStartedAt;
    public Long chargeEndedAt;
    public Long powerKw;
    public long departedAt;
    public double energyKwh;
    public double revenueEur;
    public long dwellMs;
    public long chargingMs;
    public Long idleAfterChargeMs;
    /** {@code charged} or {@code no_charge}. */
    public String outcome;
    public boolean overstay;
    public List<Flag> flags;

    /** {@code Session::id_for}. */
    public static String idFor(String chargerId, long arrivedAt, int ordinal) {
        return ordinal == 0 ? chargerId + "@" + arrivedAt : chargerId + "@" + arrivedAt + "#" + ordinal;
    }

    /** {@code power_kw × charging_ms / 3 600 000}, as {@code events::session::energy_kwh}. */
    public static double energyKwh(long powerKw, long chargingMs) {
        return (double) powerKw * (double) chargingMs / 3_600_000.0;
    }

    /** {@code Session::new}. */
    public static Session create(String sessionId, String chargerId, String plate, String userId,
            Double price, Long powerKw, long arrivedAt, Long identifiedAt, Long chargeStartedAt,
            Long chargeEndedAt, long departedAt, long overstayGraceMs, List<Flag> flags) {
        Session s = new Session();
        long chargingMs = (chargeStartedAt != null && chargeEndedAt != null)
                ? Math.max(chargeEndedAt - chargeStartedAt, 0) : 0;
        double energy = energyKwh(powerKw == null ? 0 : powerKw, chargingMs);
        double revenue = energy * (price == null ? 0.0 : price);
        Long idle = chargeEndedAt == null ? null : Math.max(departedAt - chargeEndedAt, 0);
        s.sessionId = sessionId;
        s.chargerId = chargerId;
        s.plate = plate;
        s.arrivedAt = arrivedAt;
        s.identifiedAt = identifiedAt;
        s.userId = userId;
        s.priceEurPerKwh = price;
        s.chargeStartedAt = chargeStartedAt;
        s.chargeEndedAt = chargeEndedAt;
        s.powerKw = powerKw;
        s.departedAt = departedAt;
        s.energyKwh = energy;
        s.revenueEur = revenue;
        s.dwellMs = departedAt - arrivedAt;
        s.chargingMs = chargingMs;
        s.idleAfterChargeMs = idle;
        s.outcome = chargeStartedAt != null ? "charged" : "no_charge";
        s.overstay = idle != null && idle > overstayGraceMs;
        s.flags = List.copyOf(new TreeSet<>(flags)); // sorted, deduplicated
        return s;
    }

    /** The record as serde_json writes it. */
    public String toJson() {
        StringBuilder sb = new StringBuilder(512);
        sb.append("{\"session_id\":");
        Json.string(sb, sessionId);
        sb.append(",\"charger_id\":");
        Json.string(sb, chargerId);
        sb.append(",\"plate\":");
        Json.optString(sb, plate);
        sb.append(",\"arrived_at\":").append(arrivedAt);
        sb.append(",\"identified_at\":").append(identifiedAt);
        sb.append(",\"user_id\":");
        Json.optString(sb, userId);
        sb.append(",\"price_eur_per_kwh\":");
        Json.optDouble(sb, priceEurPerKwh);
        sb.append(",\"charge_started_at\":").append(chargeStartedAt);
        sb.append(",\"charge_ended_at\":").append(chargeEndedAt);
        sb.append(",\"power_kw\":").append(powerKw);
        sb.append(",\"departed_at\":").append(departedAt);
        sb.append(",\"energy_kwh\":");
        Json.optDouble(sb, energyKwh);
        sb.append(",\"revenue_eur\":");
        Json.optDouble(sb, revenueEur);
        sb.append(",\"dwell_ms\":").append(dwellMs);
        sb.append(",\"charging_ms\":").append(chargingMs);
        sb.append(",\"idle_after_charge_ms\":").append(idleAfterChargeMs);
        sb.append(",\"outcome\":\"").append(outcome).append('"');
        sb.append(",\"overstay\":").append(overstay);
        sb.append(",\"flags\":[");
        for (int i = 0; i < flags.size(); i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append('"').append(flags.get(i).json).append('"');
        }
        sb.append("]}");
        return sb.toString();
    }

    public byte[] toJsonBytes() {
        return toJson().getBytes(StandardCharsets.UTF_8);
    }
}
