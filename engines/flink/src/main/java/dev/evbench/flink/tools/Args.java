package dev.evbench.flink.tools;

import java.util.HashMap;
import java.util.Map;

/** {@code --name value} command-line options of the tools. */
final class Args {
    private final Map<String, String> values = new HashMap<>();

    Args(String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + args[i]);
            }
            String name = args[i].substring(2);
            if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
                values.put(name, args[++i]);
            } else {
                values.put(name, "true");
            }
        }
    }

    String get(String name, String dflt) {
        return values.getOrDefault(name, dflt);
    }

    String required(String name) {
        String v = values.get(name);
        if (v == null) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return v;
    }

    long num(String name, long dflt) {
        return Long.parseLong(get(name, Long.toString(dflt)));
    }

    double real(String name, double dflt) {
        return Double.parseDouble(get(name, Double.toString(dflt)));
    }
}
