package dev.evbench.core;

import java.nio.charset.StandardCharsets;

/**
 * Timestamps as producers send them, and durations and times for people: a port of
 * {@code crates/events/src/time.rs} and of the {@code humantime} formatting the Rust sessionizer
 * uses in its dead-letter reasons.
 */
public final class Times {
    private Times() {}

    /** Integers below this are epoch seconds, above it epoch milliseconds. */
    static final long SECONDS_LIMIT = 100_000_000_000L;

    /** Thrown for an unusable timestamp; the message is the Rust {@code Error::Timestamp} text. */
    public static final class BadTimestamp extends Exception {
        BadTimestamp(String message) {
            super(message, null, false, false);
        }
    }

    public static long fromInteger(long value) throws BadTimestamp {
        if (value < 0) {
            throw new BadTimestamp("negative epoch " + value);
        }
        return value < SECONDS_LIMIT ? value * 1000 : value;
    }

    public static long fromFloat(double value) throws BadTimestamp {
        if (!Double.isFinite(value) || value < 0.0) {
            throw new BadTimestamp("not a usable epoch: " + Floats.display(value));
        }
        if (value < (double) SECONDS_LIMIT) {
            return roundHalfAway(value * 1000.0);
        } else if (value < 9.0e15) {
            return roundHalfAway(value);
        }
        throw new BadTimestamp("epoch out of range: " + Floats.display(value));
    }

    /** Rust's {@code f64::round() as i64} for a non-negative finite value. */
    private static long roundHalfAway(double v) {
        double r = Math.floor(v);
        if (v - r >= 0.5) {
            r += 1.0;
        }
        return (long) r;
    }

    public static long fromText(String text) throws BadTimestamp {
        Long v = parseText(text.strip());
        if (v == null) {
            throw new BadTimestamp("unreadable date " + rustDebug(text));
        }
        return v;
    }

    private static Long parseText(String str) {
        byte[] b = str.getBytes(StandardCharsets.UTF_8);
        if (b.length < 19 || b[4] != '-' || b[7] != '-' || !(b[10] == ' ' || b[10] == 'T' || b[10] == 't')) {
            Long n = parseI64(str);
            if (n == null) {
                return null;
            }
            try {
                return fromInteger(n);
            } catch (BadTimestamp e) {
                return null;
            }
        }
        if (b[13] != ':' || b[16] != ':') {
            return null;
        }
        long year = digits(b, 0, 4), month = digits(b, 5, 7), day = digits(b, 8, 10);
        long hour = digits(b, 11, 13), minute = digits(b, 14, 16), second = digits(b, 17, 19);
        if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) {
            return null;
        }
        if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
            return null;
        }
        if (hour > 23 || minute > 59 || second > 60) {
            return null;
        }
        int i = 19;
        long millis = 0;
        if (i < b.length && b[i] == '.') {
            int start = i + 1;
            int n = 0;
            while (start + n < b.length && b[start + n] >= '0' && b[start + n] <= '9') {
                n++;
            }
            if (n == 0) {
                return null;
            }
            long[] scale = {100, 10, 1};
            for (int k = 0; k < Math.min(n, 3); k++) {
                millis += (b[start + k] - '0') * scale[k];
            }
            i = start + n;
        }
        int rest = b.length - i;
        long offsetMinutes;
        if (rest == 0 || (rest == 1 && (b[i] == 'Z' || b[i] == 'z'))) {
            offsetMinutes = 0;
        } else if (rest == 6 && (b[i] == '+' || b[i] == '-') && b[i + 3] == ':') {
            long h = digits(b, i + 1, i + 3), m = digits(b, i + 4, i + 6);
            if (h < 0 || m < 0) {
                return null;
            }
            long minutes = h * 60 + m;
            offsetMinutes = b[i] == '+' ? minutes : -minutes;
        } else {
            return null;
        }
        long days = daysFromCivil(year, month, day);
        long seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60;
        return seconds * 1000 + millis;
    }

    /** Rust's {@code str::parse::<i64>}: optional sign, ASCII digits, no overflow. */
    static Long parseI64(String s) {
        int i = 0;
        boolean negative = false;
        if (!s.isEmpty() && (s.charAt(0) == '+' || s.charAt(0) == '-')) {
            negative = s.charAt(0) == '-';
            i = 1;
        }
        if (i == s.length()) {
            return null;
        }
        long v = 0;
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return null;
            }
            try {
                v = Math.addExact(Math.multiplyExact(v, 10), negative ? -(c - '0') : (c - '0'));
            } catch (ArithmeticException e) {
                return null;
            }
        }
        return v;
    }

    /** The value of ASCII digits {@code b[from..to]}, or -1. */
    private static long digits(byte[] b, int from, int to) {
        long acc = 0;
        for (int i = from; i < to; i++) {
            if (b[i] < '0' || b[i] > '9') {
                return -1;
            }
            acc = acc * 10 + (b[i] - '0');
        }
        return acc;
    }

    private static boolean isLeap(long year) {
        return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    }

    private static long daysInMonth(long year, long month) {
        if (month == 2) {
            return isLeap(year) ? 29 : 28;
        }
        return (month == 4 || month == 6 || month == 9 || month == 11) ? 30 : 31;
    }

    /** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
    public static long daysFromCivil(long year, long month, long day) {
        long y = month <= 2 ? year - 1 : year;
        long era = Math.floorDiv(y, 400);
        long yoe = y - era * 400;
        long mp = (month + 9) % 12;
        long doy = (153 * mp + 2) / 5 + day - 1;
        long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146_097 + doe - 719_468;
    }

    /** Epoch milliseconds as {@code YYYY-MM-DD HH:MM:SS.mmm} (UTC). */
    public static String formatUtc(long epochMs) {
        long days = Math.floorDiv(epochMs, 86_400_000L);
        long msOfDay = Math.floorMod(epochMs, 86_400_000L);
        long z = days + 719_468;
        long era = Math.floorDiv(z, 146_097);
        long doe = z - era * 146_097;
        long yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        long mp = (5 * doy + 2) / 153;
        long day = doy - (153 * mp + 2) / 5 + 1;
        long month = mp < 10 ? mp + 3 : mp - 9;
        long year = yoe + era * 400 + (month <= 2 ? 1 : 0);
        return String.format("%04d-%02d-%02d %02d:%02d:%02d.%03d", year, month, day,
                msOfDay / 3_600_000, msOfDay / 60_000 % 60, msOfDay / 1000 % 60, msOfDay % 1000);
    }

    /** {@code humantime::format_duration} of a number of milliseconds (its absolute value). */
    public static String humanMs(long ms) {
        long abs = ms == Long.MIN_VALUE ? Long.MAX_VALUE : Math.abs(ms);
        long secs = abs / 1000;
        long millis = abs % 1000;
        if (secs == 0 && millis == 0) {
            return "0s";
        }
        long years = secs / 31_557_600;
        long ydays = secs % 31_557_600;
        long months = ydays / 2_630_016;
        long mdays = ydays % 2_630_016;
        long days = mdays / 86400;
        long daySecs = mdays % 86400;
        StringBuilder sb = new StringBuilder();
        plural(sb, "year", years);
        plural(sb, "month", months);
        plural(sb, "day", days);
        item(sb, "h", daySecs / 3600);
        item(sb, "m", daySecs % 3600 / 60);
        item(sb, "s", daySecs % 60);
        item(sb, "ms", millis);
        return sb.toString();
    }

    private static void plural(StringBuilder sb, String name, long v) {
        if (v > 0) {
            if (sb.length() > 0) {
                sb.append(' ');
            }
            sb.append(v).append(name);
            if (v > 1) {
                sb.append('s');
            }
        }
    }

    private static void item(StringBuilder sb, String name, long v) {
        if (v > 0) {
            if (sb.length() > 0) {
                sb.append(' ');
            }
            sb.append(v).append(name);
        }
    }

    /** Rust's {@code {:?}} of a string (quotes and the common escapes). */
    static String rustDebug(String s) {
        StringBuilder sb = new StringBuilder("\"");
        s.codePoints().forEach(c -> {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case 0 -> sb.append("\\0");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        sb.append("\\u{").append(Integer.toHexString(c)).append('}');
                    } else {
                        sb.appendCodePoint(c);
                    }
                }
            }
        });
        return sb.append('"').toString();
    }
}
