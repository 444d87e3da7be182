package dev.evbench.core;

/** What the aggregator inferred or repaired to close a session; declared in Rust's sort order. */
public enum Flag {
    INFERRED_USER_DISCONNECT("inferred_user_disconnect"),
    INFERRED_CHARGE_END("inferred_charge_end"),
    CLOSED_BY_INACTIVITY("closed_by_inactivity"),
    CLOSED_BY_NEXT_ARRIVAL("closed_by_next_arrival"),
    CHARGE_WITHOUT_IDENTIFICATION("charge_without_identification");

    public final String json;

    Flag(String json) {
        this.json = json;
    }
}
