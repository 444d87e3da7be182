package dev.evbench.core;

import com.fasterxml.jackson.core.io.schubfach.DoubleToDecimal;

/**
 * Doubles written the way the Rust side writes them: {@link #json} is serde_json's (the
 * {@code ryu} crate's shortest round-trip form: {@code 10.0}, {@code 0.57}, {@code 1e-7},
 * {@code 1.5e16}), {@link #display} is Rust's {@code Display} ({@code 10}, {@code 0.0000001},
 * {@code inf}). Both start from the shortest decimal that parses back to the same double
 * (Schubfach, as in Jackson), so a reader gets exactly the double computed here.
 */
public final class Floats {
    private Floats() {}

    /** Shortest decimal digits (no leading or trailing zeros) and the point's position. */
    private record Decimal(boolean negative, String digits, int kk) {}

    private static Decimal decimal(double v) {
        String s = DoubleToDecimal.toString(v);
        boolean negative = s.startsWith("-");
        if (negative) {
            s = s.substring(1);
        }
        int e = s.indexOf('E');
        String mantissa = e < 0 ? s : s.substring(0, e);
        int exp = e < 0 ? 0 : Integer.parseInt(s.substring(e + 1));
        int dot = mantissa.indexOf('.');
        String all = dot < 0 ? mantissa : mantissa.substring(0, dot) + mantissa.substring(dot + 1);
        int point = (dot < 0 ? mantissa.length() : dot) + exp;
        int lead = 0;
        while (lead < all.length() - 1 && all.charAt(lead) == '0') {
            lead++;
        }
        String digits = all.substring(lead);
        int end = digits.length();
        while (end > 1 && digits.charAt(end - 1) == '0') {
            end--;
        }
        return new Decimal(negative, digits.substring(0, end), point - lead);
    }

    /** serde_json's text of a finite double (callers write {@code null} for the others). */
    public static String json(double v) {
        if (v == 0.0) {
            return (1 / v < 0) ? "-0.0" : "0.0";
        }
        Decimal d = decimal(v);
        String digits = d.digits();
        int length = digits.length();
        int kk = d.kk();
        int k = kk - length;
        StringBuilder sb = new StringBuilder(24);
        if (d.negative()) {
            sb.append('-');
        }
        if (0 <= k && kk <= 16) {
            sb.append(digits);
            sb.append("0".repeat(kk - length));
            sb.append(".0");
        } else if (0 < kk && kk <= 16) {
            sb.append(digits, 0, kk).append('.').append(digits, kk, length);
        } else if (-5 < kk && kk <= 0) {
            sb.append("0.").append("0".repeat(-kk)).append(digits);
        } else if (length == 1) {
            sb.append(digits).append('e').append(kk - 1);
        } else {
            sb.append(digits.charAt(0)).append('.').append(digits, 1, length).append('e').append(kk - 1);
        }
        return sb.toString();
    }

    /** Rust's {@code format!("{}", v)}. */
    public static String display(double v) {
        if (Double.isNaN(v)) {
            return "NaN";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "inf" : "-inf";
        }
        if (v == 0.0) {
            return (1 / v < 0) ? "-0" : "0";
        }
        Decimal d = decimal(v);
        String digits = d.digits();
        int length = digits.length();
        int kk = d.kk();
        StringBuilder sb = new StringBuilder();
        if (d.negative()) {
            sb.append('-');
        }
        if (kk >= length) {
            sb.append(digits).append("0".repeat(kk - length));
        } else if (kk > 0) {
            sb.append(digits, 0, kk).append('.').append(digits, kk, length);
        } else {
            sb.append("0.").append("0".repeat(-kk)).append(digits);
        }
        return sb.toString();
    }
}
