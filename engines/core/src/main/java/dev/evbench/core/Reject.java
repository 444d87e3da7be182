package dev.evbench.core;

/** Why the state machine refused a signal at its place in the canonical order. */
public enum Reject {
    NO_VEHICLE,
    PLATE_MISMATCH,
    ALREADY_PARKED,
    ALREADY_IDENTIFIED,
    IDENTIFIED_AFTER_DISCONNECT,
    ALREADY_DISCONNECTED,
    USER_MISMATCH,
    ALREADY_CHARGING,
    SECOND_CHARGE,
    END_WITHOUT_START,
    ALREADY_ENDED,
    OUT_OF_RANGE;

    /** The dead-letter reason, as the Rust {@code Reject::describe}. */
    public String describe(int kind) {
        String what = Kinds.name(kind);
        return switch (this) {
            case NO_VEHICLE -> kind == Kinds.L
                    ? what + " with no visit: no vehicle is parked"
                    : what + " while the bay is empty: no arrival was seen before it";
            case PLATE_MISMATCH -> what + " with a plate different from the parked vehicle's";
            case ALREADY_PARKED -> what + " repeats the arrival of the parked vehicle";
            case ALREADY_IDENTIFIED -> what + " while a user is already identified in this visit";
            case IDENTIFIED_AFTER_DISCONNECT -> what + " after the user of this visit was disconnected";
            case ALREADY_DISCONNECTED -> what + " after the user of this visit was already disconnected";
            case USER_MISMATCH -> what + " names a user different from the one identified in this visit";
            case ALREADY_CHARGING -> what + " while the vehicle is already charging";
            case SECOND_CHARGE -> what + " after charging already ended: one charge per visit";
            case END_WITHOUT_START -> what + " without a charge start in this visit";
            case ALREADY_ENDED -> what + " after charging already ended";
            case OUT_OF_RANGE -> what + " too far from its visit's arrival (more than 49 days or 32767 signals)";
        };
    }
}
