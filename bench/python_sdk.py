#!/usr/bin/env python3
"""Drive the official Python SDK (ascend-ai-sdk 2.7.1, unchanged) for the ascend-bench harness.

The harness (`cargo run --release -p ascend-bench`) starts the server and runs this script; it
prints one JSON object on stdout and the harness computes the statistics, exactly as for the Rust
client.

  python_sdk.py load --url URL --key AGENT_KEY --levels 1:1000,16:3000 --repeats 2 --warmup 200
      Decision load: for each level C:N, C threads in this one Python process, each with its own
      AscendClient (the SDK's client holds a requests.Session; one per thread, as one per agent),
      call evaluate_action() back to back until N decisions are done; every call is timed with
      perf_counter_ns. The action is the harness's: database.read on product_categories with
      {"query": "list"} and data_classification=public. Each client runs the SDK's kill-switch
      polling (default 5 s interval), as the SDK asks agents to.

  python_sdk.py killswitch --url URL --key AGENT_KEY --admin-key ADMIN_KEY --clients 20
                           --rounds 4 --interval 1
      Kill-switch reaction with the SDK's polling (start_kill_switch_polling(interval)): trigger
      through the API, then time until every client's is_blocked() is true (checked every
      0.2 ms), confirm each client refuses (KillSwitchError, no network), release, repeat.
"""

import argparse
import json
import random
import sys
import threading
import time

import requests

from ascend import AscendClient, Decision
from ascend.exceptions import KillSwitchError


def make_client(url, key, agent_id):
    return AscendClient(api_key=key, api_url=url, agent_id=agent_id, agent_name="Bench Agent", timeout=30)


def one_decision(client):
    d = client.evaluate_action(
        action_type="database.read",
        resource="product_categories",
        parameters={"query": "list"},
        risk_indicators={"data_classification": "public"},
    )
    if d.decision != Decision.ALLOWED:
        raise RuntimeError(f"expected allowed, got {d.decision}: {d}")


def run_level(clients, n):
    """C threads (one client each) run n decisions in total; returns (latencies_ns, wall_s)."""
    lock = threading.Lock()
    counter = [0]
    latencies = [[] for _ in clients]
    errors = []
    barrier = threading.Barrier(len(clients) + 1)

    def worker(idx, client):
        barrier.wait()
        out = latencies[idx]
        while True:
            with lock:
                if counter[0] >= n:
                    return
                counter[0] += 1
            t = time.perf_counter_ns()
            try:
                one_decision(client)
            except Exception as e:  # noqa: BLE001 - reported to the harness
                errors.append(repr(e))
                return
            out.append(time.perf_counter_ns() - t)

    threads = [threading.Thread(target=worker, args=(i, c), daemon=True) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} failed decisions, first: {errors[0]}")
    return [x for lst in latencies for x in lst], wall


def cmd_load(a):
    levels = []
    for part in a.levels.split(","):
        c, n = part.split(":")
        levels.append((int(c), int(n)))
    out = {"levels": []}
    for c, n in levels:
        clients = [make_client(a.url, a.key, f"py-load-{i}") for i in range(c)]
        for cl in clients:
            cl.start_kill_switch_polling()
        run_level(clients, max(a.warmup, 4 * c))
        reps = []
        for _ in range(a.repeats):
            lat, wall = run_level(clients, n)
            reps.append({"n": len(lat), "wall_s": wall, "latencies_ns": lat})
        for cl in clients:
            cl.stop_kill_switch_polling()
        out["levels"].append({"concurrency": c, "repeats": reps})
    json.dump(out, sys.stdout)


def post(url, key, path, body):
    r = requests.post(f"{url}{path}", headers={"X-API-Key": key}, json=body, timeout=30)
    if r.status_code != 200:
        raise RuntimeError(f"POST {path}: {r.status_code} {r.text}")


def wait_all(clients, blocked, timeout):
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if all(c.is_blocked() == blocked for c in clients):
            return True
        time.sleep(0.005)
    return False


def cmd_killswitch(a):
    clients = [make_client(a.url, a.key, f"py-kill-{i}") for i in range(a.clients)]
    # Start the pollers one after another over one interval: independent agents' polls are not
    # synchronised.
    for c in clients:
        c.start_kill_switch_polling(a.interval)
        time.sleep(a.interval / len(clients))
    if not wait_all(clients, False, 10 + 3 * a.interval):
        raise RuntimeError("clients did not start unblocked")
    rounds = []
    try:
        for _ in range(a.rounds):
            # Random phase against the clients' polling timers.
            time.sleep(random.uniform(0, a.interval))
            seen = [None] * len(clients)
            t0 = time.perf_counter()
            trigger = threading.Thread(
                target=post, args=(a.url, a.admin_key, "/api/v1/kill-switch/trigger", {"reason": "ascend-bench"})
            )
            trigger.start()
            deadline = t0 + 10 * a.interval + 10
            while any(s is None for s in seen) and time.perf_counter() < deadline:
                for i, c in enumerate(clients):
                    if seen[i] is None and c.is_blocked():
                        seen[i] = time.perf_counter() - t0
                time.sleep(0.0002)
            trigger.join()
            if any(s is None for s in seen):
                raise RuntimeError("some clients never saw the kill switch")
            for c in clients:
                try:
                    one_decision(c)
                    raise RuntimeError("a blocked client was allowed to act")
                except KillSwitchError:
                    pass
            rounds.append(seen)
            post(a.url, a.admin_key, "/api/v1/kill-switch/release", {"reason": "ascend-bench"})
            if not wait_all(clients, False, 10 * a.interval + 10):
                raise RuntimeError("clients did not see the release")
    finally:
        for c in clients:
            c.stop_kill_switch_polling()
    json.dump({"clients": len(clients), "interval_s": a.interval, "rounds": rounds}, sys.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("--url", required=True)
    lp.add_argument("--key", required=True)
    lp.add_argument("--levels", required=True)
    lp.add_argument("--repeats", type=int, default=2)
    lp.add_argument("--warmup", type=int, default=100)
    kp = sub.add_parser("killswitch")
    kp.add_argument("--url", required=True)
    kp.add_argument("--key", required=True)
    kp.add_argument("--admin-key", required=True)
    kp.add_argument("--clients", type=int, default=10)
    kp.add_argument("--rounds", type=int, default=3)
    kp.add_argument("--interval", type=float, default=1.0)
    a = p.parse_args()
    if a.cmd == "load":
        cmd_load(a)
    else:
        cmd_killswitch(a)


if __name__ == "__main__":
    main()
