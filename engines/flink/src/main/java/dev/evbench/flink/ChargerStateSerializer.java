package dev.evbench.flink;

import dev.evbench.core.ChargerState;
import dev.evbench.core.ChargerStateCodec;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** Flink serializer of a charger's keyed state: {@link ChargerStateCodec}'s binary form (no Kryo). */
public final class ChargerStateSerializer extends TypeSerializerSingleton<ChargerState> {
    private static final long serialVersionUID = 1L;
    public static final ChargerStateSerializer INSTANCE = new ChargerStateSerializer();

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
        ChargerStateCodec.write(c, out);
    }

    @Override
    public ChargerState deserialize(DataInputView in) throws IOException {
        return ChargerStateCodec.read(in);
    }

    @Override
    public ChargerState deserialize(ChargerState reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
        serialize(deserialize(in), out);
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
