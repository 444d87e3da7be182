#!/usr/bin/env bash
# Profiles evbench's aggregator and sink while a scenario runs: CPU samples (perf's software
# `cpu-clock` event: this VM exposes no hardware counters, so `perf stat` has no instruction
# counts here) with call graphs, for SECONDS seconds once both processes are up, then the
# hottest functions of each by their own samples.
#
#   bench/profile.sh [SCENARIO] [SECONDS] [OUT]
#   bench/profile.sh scenarios/steady-latency.toml 10 out/profile
#
# Needs perf (Debian's linux-perf) and root or kernel.perf_event_paranoid <= 1 for other
# processes. Uses target/release/evbench (build it first: it carries debug info for symbols).
# The raw data stays in OUT/{aggregator,sink}.perf.data for `perf report -i` or a flame graph.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-scenarios/steady-latency.toml}
seconds=${2:-10}
out=${3:-out/profile}
command -v perf >/dev/null || { echo "perf not found (Debian: apt-get install linux-perf)" >&2; exit 3; }
[ -x target/release/evbench ] || { echo "build first: cargo build --release -p evbench" >&2; exit 3; }
mkdir -p "$out"
EVBENCH_LOG=warn target/release/evbench run "$scenario" --out "$out/run" >"$out/run.log" 2>&1 &
run=$!
pid_of() { pgrep -n -f "target/release/evbench $1 " || true; }
for _ in $(seq 1 600); do
  aggregator=$(pid_of aggregate) sink=$(pid_of sink)
  [ -n "$aggregator" ] && [ -n "$sink" ] && break
  sleep 0.1
done
[ -n "$aggregator" ] && [ -n "$sink" ] || { echo "the pipeline's processes did not start" >&2; wait "$run"; exit 3; }
sleep 2 # past the start-up
perf record -q -e cpu-clock -F 999 -g -p "$aggregator" -o "$out/aggregator.perf.data" -- sleep "$seconds" &
recording_aggregator=$!
perf record -q -e cpu-clock -F 999 -g -p "$sink" -o "$out/sink.perf.data" -- sleep "$seconds" &
recording_sink=$!
wait "$recording_aggregator" "$recording_sink" || true
wait "$run" || echo "the run exited with $? (see $out/run.log)"
for part in aggregator sink; do
  echo "== $part: functions by their own share of the samples"
  perf report -q -i "$out/$part.perf.data" --no-children --stdio --sort symbol -g none --percent-limit 1.5 2>/dev/null |
    sed 's/[[:space:]]*$//' | grep -v '^$' | head -25
done
