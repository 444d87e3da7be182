#!/usr/bin/env python3
"""Summarises a soak's report.json (scenarios/soak.toml): each part's memory at the start of the
second half, at the end, its peak and its growth (`rss_slope_bytes_per_min`, per hour here), and
whether latency drifted: the median of the per-second p99s in the first and the last five
minutes of the load, signal -> charging-sessions and signal -> ClickHouse.

    bench/soak-summary.py out/soak/report.json
"""
import json
import statistics
import sys


def median_p99(seconds, key):
    values = [s[key]["p99"] for s in seconds if s[key]["count"] > 0]
    return statistics.median(values) if values else float("nan")


def slope_per_min(series):
    """As the report's rss_slope_bytes_per_min: least squares over the second half of the
    samples while the part was alive (reports from before that field get it here)."""
    alive = [s for s in series if s["rss_bytes"] > 0]
    if len(alive) < 20:
        return None
    tail = alive[len(alive) // 2:]
    mean_t = sum(s["t"] for s in tail) / len(tail)
    mean_rss = sum(s["rss_bytes"] for s in tail) / len(tail)
    var = sum((s["t"] - mean_t) ** 2 for s in tail)
    cov = sum((s["t"] - mean_t) * (s["rss_bytes"] - mean_rss) for s in tail)
    return cov / var * 60 if var > 0 else None


def main(path):
    report = json.load(open(path))
    print(f"{report['scenario']}: passed={report['passed']} wall {report['wall_s']:.0f} s, "
          f"{report['events']['produced']} signals, {report['throughput']['events_per_s']:.0f}/s")
    print(f"{'part':<14} {'half MB':>8} {'end MB':>8} {'peak MB':>8} {'MB/hour':>8}")
    for part, use in sorted(report["resources"].items()):
        series = [s for s in use["series"] if s["rss_bytes"] > 0]
        if not series:
            continue
        half = series[len(series) // 2]["rss_bytes"] / 1e6
        end = series[-1]["rss_bytes"] / 1e6
        slope = use.get("rss_slope_bytes_per_min", slope_per_min(use["series"]))
        per_hour = "-" if slope is None else f"{slope * 60 / 1e6:.1f}"
        print(f"{part:<14} {half:8.0f} {end:8.0f} {use['peak_rss_bytes'] / 1e6:8.0f} {per_hour:>8}")
    loaded = [s for s in report["timeline"] if s["events_produced"] > 0]
    if len(loaded) >= 600:
        first, last = loaded[:300], loaded[-300:]
        for key, name in [("session_latency", "signal -> sessions"),
                          ("clickhouse_latency", "signal -> ClickHouse")]:
            a, b = median_p99(first, key), median_p99(last, key)
            print(f"{name}: median per-second p99 first 5 min {a:.0f} ms, last 5 min {b:.0f} ms "
                  f"({b / a:.2f}x)")
    else:
        print("under ten minutes of load: no drift figure")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/soak/report.json")
