package dev.evbench.flink;

import dev.evbench.flink.core.ChargerState;
import dev.evbench.flink.core.ClosedVisit;
import dev.evbench.flink.core.Closure;
import dev.evbench.flink.core.Key;
import dev.evbench.flink.core.Rec;
import dev.evbench.flink.core.Reject;
import dev.evbench.flink.core.Visit;
import java.io.IOException;
import java.util.ArrayList;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.types.StringValue;

/** Flink serializer of a charger's keyed state: a compact hand-written binary form (no Kryo). */
public final class ChargerStateSerializer extends TypeSerializerSingleton<ChargerState> {
    private static final long serialVersionUID = 1L;
    public static final ChargerStateSerializer INSTANCE = new ChargerStateSerializer();
    private static final Closure[] CLOSURES = Closure.values();
    private static final Reject[] REJECTS = Reject.values();

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public ChargerState createInstance() {
        return new ChargerState();
    }

    @Override
    public ChargerState copy(ChargerState from) {
        return from.copy();
    }

    @Override
    public ChargerState copy(ChargerState from, ChargerState reuse) {
        return from.copy();
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(ChargerState c, DataOutputView out) throws IOException {
        StringValue.writeString(c.id, out);
        out.writeInt(c.partition);
        out.writeBoolean(c.open != null);
        if (c.open != null) {
            writeVisit(c.open, out);
        }
        writeKey(c.closedBelow, out);
        out.writeBoolean(c.lastArrivedAt != null);
        if (c.lastArrivedAt != null) {
            out.writeLong(c.lastArrivedAt);
        }
        out.writeInt(c.ordinal);
        for (Rec fp : c.fps) {
            out.writeBoolean(fp != null);
            if (fp != null) {
                writeRec(fp, out);
            }
        }
        out.writeLong(c.nextTb);
        out.writeBoolean(c.awaiting != null);
        if (c.awaiting != null) {
            out.writeInt(c.awaiting.size());
            for (ClosedVisit cv : c.awaiting) {
                writeVisit(cv.visit, out);
                out.writeByte(cv.closure.ordinal());
                writeKey(cv.closer, out);
                out.writeBoolean(cv.closerSeq);
            }
            out.writeInt(c.pending.size());
            for (Rec r : c.pending) {
                writeRec(r, out);
            }
        }
        out.writeBoolean(c.settledMax != null);
        if (c.settledMax != null) {
            out.writeLong(c.settledMax);
        }
        out.writeLong(c.timerAt);
    }

    @Override
    public ChargerState deserialize(DataInputView in) throws IOException {
        ChargerState c = new ChargerState();
        c.id = StringValue.readString(in);
        c.partition = in.readInt();
        if (in.readBoolean()) {
            c.open = readVisit(in);
        }
        c.closedBelow = readKey(in);
        if (in.readBoolean()) {
            c.lastArrivedAt = in.readLong();
        }
        c.ordinal = in.readInt();
        for (int i = 0; i < 6; i++) {
            if (in.readBoolean()) {
                c.fps[i] = readRec(in);
            }
        }
        c.nextTb = in.readLong();
        if (in.readBoolean()) {
            int n = in.readInt();
            c.awaiting = new ArrayList<>(Math.max(n, 2));
            for (int i = 0; i < n; i++) {
                Visit v = readVisit(in);
                Closure closure = CLOSURES[in.readByte()];
                Key closer = readKey(in);
                c.awaiting.add(new ClosedVisit(v, closure, closer, in.readBoolean()));
            }
            int m = in.readInt();
            c.pending = new ArrayList<>(Math.max(m, 2));
            for (int i = 0; i < m; i++) {
                c.pending.add(readRec(in));
            }
        }
        if (in.readBoolean()) {
            c.settledMax = in.readLong();
        }
        c.timerAt = in.readLong();
        return c;
    }

    @Override
    public ChargerState deserialize(ChargerState reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
        serialize(deserialize(in), out);
    }

    private static void writeKey(Key k, DataOutputView out) throws IOException {
        out.writeLong(k.ts());
        out.writeLong(k.tb());
    }

    private static Key readKey(DataInputView in) throws IOException {
        return new Key(in.readLong(), in.readLong());
    }

    private static void writeVisit(Visit v, DataOutputView out) throws IOException {
        for (int i = 0; i < 6; i++) {
            out.writeLong(v.ts[i]);
            out.writeLong(v.tb[i]);
        }
        out.writeLong(v.firstOffset);
        out.writeLong(v.arrivalOffset);
        out.writeDouble(v.price);
        StringValue.writeString(v.plate, out);
        StringValue.writeString(v.user, out);
        out.writeInt(v.power);
        out.writeInt(v.present);
        out.writeInt(v.bits);
        out.writeInt(v.last);
    }

    private static Visit readVisit(DataInputView in) throws IOException {
        Visit v = new Visit();
        for (int i = 0; i < 6; i++) {
            v.ts[i] = in.readLong();
            v.tb[i] = in.readLong();
        }
        v.firstOffset = in.readLong();
        v.arrivalOffset = in.readLong();
        v.price = in.readDouble();
        v.plate = StringValue.readString(in);
        v.user = StringValue.readString(in);
        v.power = in.readInt();
        v.present = in.readInt();
        v.bits = in.readInt();
        v.last = in.readInt();
        return v;
    }

    private static void writeRec(Rec r, DataOutputView out) throws IOException {
        out.writeByte(r.kind);
        writeKey(r.key, out);
        out.writeBoolean(r.seq);
        out.writeLong(r.offset);
        StringValue.writeString(r.text, out);
        out.writeDouble(r.price);
        out.writeLong(r.power);
        out.writeInt(r.raw == null ? -1 : r.raw.length);
        if (r.raw != null) {
            out.write(r.raw);
        }
        out.writeByte(r.reject.ordinal());
    }

    private static Rec readRec(DataInputView in) throws IOException {
        byte kind = in.readByte();
        Key key = readKey(in);
        boolean seq = in.readBoolean();
        long offset = in.readLong();
        String text = StringValue.readString(in);
        double price = in.readDouble();
        long power = in.readLong();
        Rec r = new Rec(kind, key, seq, offset, text, price, power);
        int n = in.readInt();
        if (n >= 0) {
            r.raw = new byte[n];
            in.readFully(r.raw);
        }
        r.reject = REJECTS[in.readByte()];
        return r;
    }

    @Override
    public TypeSerializerSnapshot<ChargerState> snapshotConfiguration() {
        return new Snapshot();
    }

    /** Serializer snapshot (format version 1). */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<ChargerState> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
