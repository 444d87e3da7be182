package dev.evbench.core;

/** A visit closed by the state machine, waiting to be final and emitted. */
public final class ClosedVisit {
    public Visit visit;
    public Closure closure;
    /** The key of the signal that closed it; for a closure by inactivity flush, its last key. */
    public Key closer;
    public boolean closerSeq;

    public ClosedVisit() {}

    public ClosedVisit(Visit visit, Closure closure, Key closer, boolean closerSeq) {
        this.visit = visit;
        this.closure = closure;
        this.closer = closer;
        this.closerSeq = closerSeq;
    }

    public ClosedVisit copy() {
        return new ClosedVisit(visit.copy(), closure, closer, closerSeq);
    }

    /** The keys below this belong to this visit or earlier ones once it is emitted. */
    public Key closedBelow() {
        return closure == Closure.DEPARTURE ? closer.succ() : closer;
    }
}
