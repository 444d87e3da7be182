package dev.evbench.core;

/** How a visit ended in the state machine. */
public enum Closure {
    /** Its departure signal. */
    DEPARTURE,
    /** Another arrival while it was still parked. */
    NEXT_ARRIVAL,
    /** Its charger stayed silent longer than the inactivity gap. */
    INACTIVITY
}
