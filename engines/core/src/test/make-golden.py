#!/usr/bin/env python3
"""Regenerates the golden files the engines' tests share (engines/core/src/test/resources/golden/,
shipped to the Flink and Kafka Streams tests in the core test-jar).

Clean cases: `evbench simulate --out --truth` (the ground truth is the expected output).
Fault cases: a clean file perturbed here (seeded), with the expected sessions and dead letters
written by the Rust reference, `evbench sessionize`. Run by hand when the reference changes:

    python3 engines/core/src/test/make-golden.py [/path/to/evbench]
"""
import json
import os
import random
import subprocess
import sys

EVBENCH = sys.argv[1] if len(sys.argv) > 1 else "/opt/evbench-helper/evbench"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resources", "golden")

# name, profile, chargers, span, seed
CLEAN = [
    ("study-20x2h-s1", "study", 20, "2h", 1),
    ("study-20x1h-s7", "study", 20, "1h", 7),
    ("literal-20x10m-s3", "study-literal", 20, "10m", 3),
]
GRACE = {"study": "6m", "study-literal": "6s"}


def run(*args):
    subprocess.run([EVBENCH, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read(path):
    with open(path, "rb") as f:
        return [line.rstrip(b"\n") for line in f if line.strip()]


def write(path, lines):
    with open(path, "wb") as f:
        for line in lines:
            f.write(line + b"\n")


def charger(line):
    return json.loads(line)["charger_id"]


def ts(line):
    return json.loads(line)["timestamp"]


def dups_and_malformed(lines, rng):
    """As the producer's fault injection: an exact duplicate right after, a half record after."""
    out = []
    for line in lines:
        out.append(line)
        if rng.random() < 0.05:
            out.append(line)
        if rng.random() < 0.02:
            out.append(line[: len(line) // 2])
    return out


def reorder(lines, rng, within_ms=4000, share=0.3):
    """Moves a signal after the next signal of its charger when that one is close in time."""
    out = list(lines)
    i = 0
    while i < len(out):
        c, t = charger(out[i]), ts(out[i])
        if rng.random() < share:
            for j in range(i + 1, min(i + 200, len(out))):
                if charger(out[j]) == c:
                    if 0 <= ts(out[j]) - t < within_ms:
                        out.insert(j, out.pop(i))
                    break
        i += 1
    return out


def strip_seq(lines):
    out = []
    for line in lines:
        o = json.loads(line)
        o.pop("seq", None)
        out.append(json.dumps(o, separators=(",", ":")).encode())
    return out


def seconds_and_dates(lines, rng):
    """Second-resolution producers: epoch seconds, fractional seconds and date strings, no seq."""
    import datetime
    out = []
    for line in lines:
        o = json.loads(line)
        o.pop("seq", None)
        s = o["timestamp"] // 1000
        r = rng.random()
        if r < 0.4:
            o["timestamp"] = s
        elif r < 0.7:
            o["timestamp"] = datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        else:
            o["timestamp"] = o["timestamp"] / 1000.0
        out.append(json.dumps(o).encode())  # with spaces: not the fast layout
    return out


def lossy_and_late(lines, rng):
    """Drops signals (inferred flags, next-arrival closures, orphans) and delays a few by far."""
    out = []
    delayed = []
    for line in lines:
        if rng.random() < 0.04:
            continue
        if rng.random() < 0.01:
            delayed.append((len(out) + rng.randint(40, 120), line))
            continue
        out.append(line)
        while delayed and delayed[0][0] <= len(out):
            out.append(delayed.pop(0)[1])
    out.extend(d[1] for d in delayed)
    return out


GARBAGE = [
    b'{"timestamp":1767225600000,"charger_id":"g-1","vehicle_detected":true,"recharging":true}',
    b'{"timestamp":1767225600000,"charger_id":"g-1"}',
    b'{"timestamp":1767225600000,"charger_id":"g-1","user_connection":true,"user_id":"U","price":-1}',
    b'{"timestamp":1767225600000,"charger_id":"g-1","recharging":true,"energy_delivered":0}',
    b'{"timestamp":1767225600000,"charger_id":"g-1","recharging":true,"energy_delivered":2000}',
    b'{"timestamp":1867225600000,"charger_id":"g-1","vehicle_detected":true,"plate":"FUTURE"}',
    b'{"timestamp":1767225600000,"vehicle_detected":true,"plate":"X"}',
    b'{"timestamp":1767225600000,"charger_id":"","vehicle_detected":true,"plate":"X"}',
    b'{"charger_id":"g-1","vehicle_detected":true}',
    b'{"timestamp":-5,"charger_id":"g-1","vehicle_detected":true}',
    b'{"timestamp":"yesterday","charger_id":"g-1","vehicle_detected":true}',
    b'{"timestamp":1767225600000,"charger_id":"g-1","vehicle_detected":true,"plate":"A","plate":"B"}',
    b'{"timestamp":1767225600000,"charger_id":"g-1","recharging":true,"energy_delivered":10.5}',
    b'{"timestamp":1767225600000,"charger_id":"g-1","vehicle_detected":"yes"}',
    b'[1767225600000,"g-2",null,true,"ARR",null,null,null,null,null]',
    b'{"timestamp":1767225601000,"charger_id":"g-2","vehicle_detected":false,"plate":"OTHER"}',
    b'{"timestamp":1767225602000,"charger_id":"g-2","vehicle_detected":false,"plate":"ARR","extra":{"a":[1,2]}}',
    b'{"timestamp":1767225603000,"charger_id":"g-2","recharging":false,"energy_delivered":0}',
    b'{"timestamp":1767225604000,"charger_id":"g-2","user_connection":false,"user_id":"U"}',
    b'not json at all',
    b'{"timestamp":1767225600000,"charger_id":"g-1","vehicle_detected":true} trailing',
    b'\xff\xfe{"timestamp":1}',
]


def garbage(lines, rng):
    out = list(lines)
    for g in GARBAGE:
        out.insert(rng.randint(1, len(out) - 1), g)
    return out


def expected(name, grace):
    signals = os.path.join(OUT, name + ".signals.jsonl")
    run("sessionize", signals, "--out", os.path.join(OUT, name + ".expected.jsonl"),
        "--dead-letters", os.path.join(OUT, name + ".dead.jsonl"), "--overstay-grace", grace)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, profile, chargers, span, seed in CLEAN:
        run("simulate", "--chargers", str(chargers), "--span", span, "--seed", str(seed), "--profile", profile,
            "--out", os.path.join(OUT, name + ".signals.jsonl"), "--truth", os.path.join(OUT, name + ".truth.jsonl"))
    base = read(os.path.join(OUT, "literal-20x10m-s3.signals.jsonl"))
    study = read(os.path.join(OUT, "study-20x2h-s1.signals.jsonl"))
    cases = {
        "faults-dups-malformed": (dups_and_malformed(base, random.Random(11)), "6s"),
        "faults-reorder-seq": (reorder(base, random.Random(12)), "6s"),
        "faults-reorder-noseq": (reorder(strip_seq(base), random.Random(13)), "6s"),
        "faults-seconds-dates": (seconds_and_dates(base, random.Random(14)), "6s"),
        "faults-lossy-late": (lossy_and_late(reorder(base, random.Random(15)), random.Random(16)), "6s"),
        "faults-lossy-noseq": (lossy_and_late(strip_seq(base), random.Random(17)), "6s"),
        "faults-garbage": (garbage(study, random.Random(18)), "6m"),
    }
    for name, (lines, grace) in cases.items():
        write(os.path.join(OUT, name + ".signals.jsonl"), lines)
        expected(name, grace)
    print("golden files written to", OUT)


if __name__ == "__main__":
    main()
