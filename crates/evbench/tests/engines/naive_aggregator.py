#!/usr/bin/env python3
"""A deliberately simple aggregator that is not evbench's: it turns the signals of clean,
in-order visits into session records, so that evbench's `command` engine can be tested with a
program written by someone else, in another language, against another Kafka client.

It reads the contract of docs/engines.md from the environment (EVBENCH_KAFKA_BOOTSTRAP, the
topics, EVBENCH_GROUP_ID, EVBENCH_OVERSTAY_GRACE_MS, EVBENCH_READY_FILE) and knows nothing of
duplicates, reordering, lost signals or malformed records: for those, evbench's checks must
find it wrong. Two switches make it wrong on purpose, for the tests of those checks:

  --drop-first       never sends the first completed session
  --duplicate-first  sends the first completed session twice

Needs the `confluent-kafka` package (ci/setup installs it).
"""

import json
import os
import signal
import sys

from confluent_kafka import Consumer, Producer


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"naive_aggregator: {name} is not set")
    return value


def session_of(charger, visit, departed_at, grace_ms):
    """The session record, with the arithmetic of evbench's events::Session::new."""
    arrived_at = visit["arrived_at"]
    start, end = visit.get("charge_started_at"), visit.get("charge_ended_at")
    charging_ms = max(end - start, 0) if start is not None and end is not None else 0
    power = visit.get("power_kw")
    energy = float(power or 0) * float(charging_ms) / 3600000.0
    price = visit.get("price")
    revenue = energy * (price if price is not None else 0.0)
    idle = max(departed_at - end, 0) if end is not None else None
    return {
        "session_id": f"{charger}@{arrived_at}",
        "charger_id": charger,
        "plate": visit.get("plate"),
        "arrived_at": arrived_at,
        "identified_at": visit.get("identified_at"),
        "user_id": visit.get("user_id"),
        "price_eur_per_kwh": price,
        "charge_started_at": start,
        "charge_ended_at": end,
        "power_kw": power,
        "departed_at": departed_at,
        "energy_kwh": energy,
        "revenue_eur": revenue,
        "dwell_ms": departed_at - arrived_at,
        "charging_ms": charging_ms,
        "idle_after_charge_ms": idle,
        "outcome": "charged" if start is not None else "no_charge",
        "overstay": idle is not None and idle > grace_ms,
        "flags": [],
    }


def main():
    drop_first = "--drop-first" in sys.argv
    duplicate_first = "--duplicate-first" in sys.argv
    bootstrap = env("EVBENCH_KAFKA_BOOTSTRAP")
    signals_topic = env("EVBENCH_SIGNALS_TOPIC", "charger-station-signals")
    sessions_topic = env("EVBENCH_SESSIONS_TOPIC", "charging-sessions")
    grace_ms = int(env("EVBENCH_OVERSTAY_GRACE_MS", "360000"))
    ready_file = os.environ.get("EVBENCH_READY_FILE")

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": env("EVBENCH_GROUP_ID", "naive-aggregator"),
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "fetch.wait.max.ms": 10,
    })
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})

    def on_assign(_consumer, partitions):
        if ready_file and partitions:
            with open(ready_file + ".tmp", "w") as f:
                f.write(str(len(partitions)))
            os.replace(ready_file + ".tmp", ready_file)

    consumer.subscribe([signals_topic], on_assign=on_assign)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))

    open_visits = {}
    emitted = 0
    while not stopping:
        message = consumer.poll(0.02)
        producer.poll(0)
        if message is None or message.error():
            continue
        try:
            s = json.loads(message.value())
        except ValueError:
            continue
        charger, ts = s["charger_id"], s["timestamp"]
        visit = open_visits.get(charger)
        if "vehicle_detected" in s:
            if s["vehicle_detected"]:
                open_visits[charger] = {"arrived_at": ts, "plate": s.get("plate")}
                continue
            if visit is None:
                continue
            del open_visits[charger]
            session = session_of(charger, visit, ts, grace_ms)
            emitted += 1
            copies = 1
            if emitted == 1 and drop_first:
                copies = 0
            if emitted == 1 and duplicate_first:
                copies = 2
            for _ in range(copies):
                producer.produce(sessions_topic, key=charger, value=json.dumps(session))
        elif visit is None:
            continue
        elif "user_connection" in s:
            if s["user_connection"]:
                visit.update(identified_at=ts, user_id=s.get("user_id"), price=s.get("price"))
        elif "recharging" in s:
            if s["recharging"]:
                visit.update(charge_started_at=ts, power_kw=s.get("energy_delivered"))
            else:
                visit["charge_ended_at"] = ts
    producer.flush(10)
    consumer.close()


if __name__ == "__main__":
    main()
