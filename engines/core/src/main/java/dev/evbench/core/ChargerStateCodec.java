package dev.evbench.core;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInput;
import java.io.DataInputStream;
import java.io.DataOutput;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;

/**
 * A charger's state in a compact hand-written binary form (no Kryo, no Java serialization), the
 * same for every engine that keeps it: Flink's keyed state and Kafka Streams' state store.
 * Strings are a length (−1 for null) and their UTF-8 bytes.
 */
public final class ChargerStateCodec {
    private static final Closure[] CLOSURES = Closure.values();
    private static final Reject[] REJECTS = Reject.values();

    private ChargerStateCodec() {}

    /** The state as bytes. */
    public static byte[] toBytes(ChargerState c) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            write(c, out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** The state {@link #toBytes} wrote. */
    public static ChargerState fromBytes(byte[] data) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
            return read(in);
        } catch (IOException e) {
            throw new UncheckedIOException("unreadable charger state (" + data.length + " bytes)", e);
        }
    }

    public static void write(ChargerState c, DataOutput out) throws IOException {
        writeString(c.id, out);
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

    public static ChargerState read(DataInput in) throws IOException {
        ChargerState c = new ChargerState();
        c.id = readString(in);
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

    private static void writeKey(Key k, DataOutput out) throws IOException {
        out.writeLong(k.ts());
        out.writeLong(k.tb());
    }

    private static Key readKey(DataInput in) throws IOException {
        return new Key(in.readLong(), in.readLong());
    }

    private static void writeVisit(Visit v, DataOutput out) throws IOException {
        for (int i = 0; i < 6; i++) {
            out.writeLong(v.ts[i]);
            out.writeLong(v.tb[i]);
        }
        out.writeLong(v.firstOffset);
        out.writeLong(v.arrivalOffset);
        out.writeDouble(v.price);
        writeString(v.plate, out);
        writeString(v.user, out);
        out.writeInt(v.power);
        out.writeInt(v.present);
        out.writeInt(v.bits);
        out.writeInt(v.last);
    }

    private static Visit readVisit(DataInput in) throws IOException {
        Visit v = new Visit();
        for (int i = 0; i < 6; i++) {
            v.ts[i] = in.readLong();
            v.tb[i] = in.readLong();
        }
        v.firstOffset = in.readLong();
        v.arrivalOffset = in.readLong();
        v.price = in.readDouble();
        v.plate = readString(in);
        v.user = readString(in);
        v.power = in.readInt();
        v.present = in.readInt();
        v.bits = in.readInt();
        v.last = in.readInt();
        return v;
    }

    private static void writeRec(Rec r, DataOutput out) throws IOException {
        out.writeByte(r.kind);
        writeKey(r.key, out);
        out.writeBoolean(r.seq);
        out.writeLong(r.offset);
        writeString(r.text, out);
        out.writeDouble(r.price);
        out.writeLong(r.power);
        out.writeInt(r.raw == null ? -1 : r.raw.length);
        if (r.raw != null) {
            out.write(r.raw);
        }
        out.writeByte(r.reject.ordinal());
    }

    private static Rec readRec(DataInput in) throws IOException {
        byte kind = in.readByte();
        Key key = readKey(in);
        boolean seq = in.readBoolean();
        long offset = in.readLong();
        String text = readString(in);
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

    private static void writeString(String s, DataOutput out) throws IOException {
        if (s == null) {
            out.writeInt(-1);
            return;
        }
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(b.length);
        out.write(b);
    }

    private static String readString(DataInput in) throws IOException {
        int n = in.readInt();
        if (n < 0) {
            return null;
        }
        byte[] b = new byte[n];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }
}
