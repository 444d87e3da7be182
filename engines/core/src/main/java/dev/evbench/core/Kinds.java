package dev.evbench.core;

/** Signal kinds, as slot indices of a visit (as in {@code crates/aggregator/src/visit.rs}). */
public final class Kinds {
    private Kinds() {}

    /** Arrival: parking {@code vehicle_detected=true}. */
    public static final byte A = 0;
    /** Identification: user {@code user_connection=true}. */
    public static final byte I = 1;
    /** Charge start: charger {@code recharging=true}. */
    public static final byte S = 2;
    /** Charge end: charger {@code recharging=false}. */
    public static final byte E = 3;
    /** User disconnect: user {@code user_connection=false}. */
    public static final byte D = 4;
    /** Departure: parking {@code vehicle_detected=false}. */
    public static final byte L = 5;

    /** What a signal of this kind is, for people. */
    public static String name(int kind) {
        return switch (kind) {
            case A -> "arrival (vehicle_detected=true)";
            case I -> "identification (user_connection=true)";
            case S -> "charge start (recharging=true)";
            case E -> "charge end (recharging=false)";
            case D -> "user disconnect (user_connection=false)";
            default -> "departure (vehicle_detected=false)";
        };
    }
}
