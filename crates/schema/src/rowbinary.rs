//! A minimal RowBinary writer: rows are appended to one reused buffer, no allocation per row.
//!
//! RowBinary is what the `clickhouse` crate itself sends; 18.16 and modern servers read it alike.
//! `LowCardinality(String)` and `Enum8` travel as `String` and `Int8`.

#[inline]
pub(crate) fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

#[inline]
pub(crate) fn put_i8(out: &mut Vec<u8>, v: i8) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub(crate) fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub(crate) fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub(crate) fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// LEB128 length, as strings and arrays are prefixed.
#[inline]
pub(crate) fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[inline]
pub(crate) fn put_bytes(out: &mut Vec<u8>, v: &[u8]) {
    put_len(out, v.len());
    out.extend_from_slice(v);
}

#[inline]
pub(crate) fn put_str(out: &mut Vec<u8>, v: &str) {
    put_bytes(out, v.as_bytes());
}

/// `Nullable(T)`: a 1 for NULL, else a 0 and the value.
#[inline]
pub(crate) fn put_nullable<T>(out: &mut Vec<u8>, v: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        None => out.push(1),
        Some(v) => {
            out.push(0);
            put(out, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_leb128() {
        let mut out = Vec::new();
        put_len(&mut out, 0);
        put_len(&mut out, 127);
        put_len(&mut out, 128);
        put_len(&mut out, 300);
        assert_eq!(out, [0, 127, 0x80, 1, 0xac, 2]);
    }

    #[test]
    fn nullable_and_strings() {
        let mut out = Vec::new();
        put_nullable(&mut out, None::<&str>, put_str);
        put_nullable(&mut out, Some("ab"), put_str);
        put_i8(&mut out, -1);
        assert_eq!(out, [1, 0, 2, b'a', b'b', 0xff]);
    }
}
