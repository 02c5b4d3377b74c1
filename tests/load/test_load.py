"""50 annotators and 2 managers against gunicorn and PostgreSQL on loopback, for a bounded time.

locust starts all 52 users within two seconds; each signs in (PBKDF2 at Django's 1,000,000
iterations: about 0.8 s of CPU per sign-in, so the rush takes a while on two cores), then works.
Once the last sign-in has answered, the mix warms up for WARMUP_SECONDS (first requests of each kind,
caches, connections), then runs for SECONDS more, the steady window, and locust is stopped.

The FIGURE's requests, rps and percentiles are that steady window (from the request log, exact rather
than locust's rounded buckets), and so is its cost: `cpu_ms_per_request` is the CPU that gunicorn's
processes and the load database's PostgreSQL backends spent in the window, divided by its requests,
read from /proc (cost.py). The sign-in rush has its own figures (`login_*`); failures and server
errors count the whole run. Per endpoint, the window's latency and the worker CPU each request took
(gunicorn_hooks.py) are printed, and the goal of issue 22 is checked: on 2 cores with locust on the
same box, rps >= 60, p99 <= 500 ms, CPU <= 20 ms per request. The goal is printed, with what it
missed, and a miss fails the run at the 52 users it is set for when the box was quiet: the goal is
for a box running only this test, so with neighbours using more than QUIET_OTHERS_PCT of it the run
prints that the goal was not judged. LOAD_GOAL=1 judges it whatever the neighbours, LOAD_GOAL=0
never. The run's own checks (errors, doubles, drift) always fail it.

LOAD_USERS (52: 50 annotators and 2 managers; or LOAD_ANNOTATORS), LOAD_SECONDS and
LOAD_WARMUP_SECONDS change the run. The largest team that still holds p99 <= 500 ms is found by
stepping LOAD_USERS up on a quiet machine, one run each, until p99_ms passes 500:

    for n in 52 80 110 140 170 200; do
        LOAD_USERS=$n .venv/bin/python -m pytest -q -s -m load tests/load/test_load.py | grep "FIGURE load"
    done
"""

import os
import time
from collections import Counter, defaultdict

import pytest

from tests.load.conftest import (
    figure,
    holding_check,
    locust_running,
    percentile,
    start_gunicorn,
)
from tests.load.cost import CostMeter
from tests.load.users import DEFAULT_ANNOTATORS, MANAGERS, annotators

pytestmark = pytest.mark.load

ANNOTATORS = annotators()
SECONDS = int(os.environ.get("LOAD_SECONDS", "40"))
WARMUP_SECONDS = int(os.environ.get("LOAD_WARMUP_SECONDS", "10"))
GOAL = {"rps": 60, "p99_ms": 500, "cpu_ms_per_request": 20}
# The goal is for the 52-user mix on a quiet box (see above).
GOAL_MODE = os.environ.get("LOAD_GOAL", "quiet")  # "1": always judged, "0": never
QUIET_OTHERS_PCT = 10


def endpoint_table(window: list[dict], cpu_rows: list[dict]) -> list[str]:
    """One line per request name: count, latency percentiles, mean worker CPU, share of all worker CPU."""
    latency, cpu = defaultdict(list), defaultdict(list)
    for r in window:
        latency[r["name"]].append(r["ms"])
    for r in cpu_rows:
        cpu[r["name"]].append(r["cpu_ms"])
    total_cpu = sum(sum(v) for v in cpu.values()) or 1
    lines = []
    for name in sorted(latency, key=lambda n: -sum(cpu.get(n, [0]))):
        ms, spent = latency[name], cpu.get(name, [])
        mean_cpu = f"{sum(spent) / len(spent):6.1f}" if spent else "    na"
        lines.append(
            f"{len(ms):6d}  {name:32s} p50 {percentile(ms, 50):>5s}  p95 {percentile(ms, 95):>5s}  "
            f"p99 {percentile(ms, 99):>5s} ms  worker cpu {mean_cpu} ms/request "
            f"({100 * sum(spent) / total_cpu:4.1f}% of it)"
        )
    return lines


def test_fifty_users_mixing_pulling_statuses_and_dashboards(load_db):
    db = load_db
    users = ANNOTATORS + MANAGERS
    before = holding_check(db)
    with (
        start_gunicorn(db, "load") as server,
        locust_running(server, db, users=users, label="load") as run,
        CostMeter(app_sid=server.process.pid, locust_sid=run.process.pid, database=db.name) as meter,
    ):
        rush_start = meter.mark()
        signed_in_at = run.wait_for_logins(users)
        rush_end = meter.mark()
        time.sleep(max(0.0, signed_in_at + WARMUP_SECONDS - time.time()))
        window_start = meter.mark()
        time.sleep(max(0.0, window_start.at + SECONDS - time.time()))
        window_end = meter.mark()
        start_at, stop_at = window_start.at, window_end.at
    load1 = os.getloadavg()[0]
    server_codes = server.statuses()
    error_tail = server.error_tail()
    after = holding_check(db)

    rows = run.requests()
    logins = [r for r in rows if r["name"] == "login"]
    rush = [r for r in rows if r["t"] < signed_in_at]
    # Requests that started in the window; the cost is what the processes spent in it.
    window = [r for r in rows if start_at <= r["t"] < stop_at and not r["name"].startswith("login")]
    window_ms = [r["ms"] for r in window]
    seconds = stop_at - start_at
    cost = meter.between(window_start, window_end)
    per = cost.per_request_ms(len(window))
    rush_cost = meter.between(rush_start, rush_end)
    cpu_rows = [r for r in server.request_cpu() if start_at <= r["t"] < stop_at]
    rps = len(window) / seconds
    p99 = percentile(window_ms, 99)
    codes = Counter(r["status"] for r in rows)
    server_errors = sum(n for code, n in codes.items() if code >= 500)
    failures = [r for r in rows if r["error"] or not r["status"]]
    stats = run.stats()
    total = next(r for r in stats if r["Name"] == "Aggregated")

    print("\n[load] requests by name (locust, whole run):")
    for r in sorted((r for r in stats if r["Name"] != "Aggregated"), key=lambda r: -int(r["Request Count"])):
        print(
            f"[load]   {int(r['Request Count']):6d}  {r['Type']:4s} {r['Name']:32s} "
            f"p50 {r['50%']:>6s} ms  p95 {r['95%']:>6s} ms  failures {r['Failure Count']}"
        )
    print(
        f"[load] whole run: {total['Request Count']} requests, {float(total['Requests/s']):.1f}/s, "
        f"{total['Failure Count']} failures by locust's count (the stop may cut one or two off mid-request)"
    )
    print(f"[load] status codes seen by locust {dict(sorted(codes.items()))}")
    print(f"[load] status codes in gunicorn's access log {dict(sorted(server_codes.items()))}")
    print(f"[load] steady window ({seconds:.0f} s after a {WARMUP_SECONDS} s warm-up), by name:")
    for line in endpoint_table(window, cpu_rows):
        print(f"[load]   {line}")
    print(
        f"[load] cost in the window: gunicorn {cost.app:.1f} s, the load database's backends {cost.db:.1f} s "
        f"({cost.backends} backends, {cost.backends_exited} exited), every PostgreSQL process {cost.cluster:.1f} s, "
        f"locust {cost.locust:.1f} s; the rest of the box used {cost.others_percent:.0f}% of its CPU; "
        f"load1 {load1:.2f}"
    )
    print(f"[load] gunicorn processes' shares of its CPU in the window: {cost.worker_shares()}")
    print(
        f"[load] per request: {per['cpu']:.1f} ms = gunicorn {per['app']:.1f} + database {per['db']:.1f} "
        f"(every PostgreSQL process: {per['pg_cluster']:.1f}; locust {per['locust']:.1f})"
    )
    print(
        f"[load] sign-in rush: {len(rush)} requests in {signed_in_at - run.started_at:.1f} s, "
        f"gunicorn {rush_cost.app:.1f} s + database {rush_cost.db:.1f} s of CPU"
    )
    met = {
        "rps": rps >= GOAL["rps"],
        "p99_ms": p99 != "na" and int(p99) <= GOAL["p99_ms"],
        "cpu_ms_per_request": per["cpu"] <= GOAL["cpu_ms_per_request"],
    }
    print(
        f"[load] goal rps >= {GOAL['rps']}, p99 <= {GOAL['p99_ms']} ms, "
        f"cpu <= {GOAL['cpu_ms_per_request']} ms/request: "
        + ("met" if all(met.values()) else "missed: " + ", ".join(k for k, ok in met.items() if not ok))
    )
    print(f"[load] database: {after}")
    for r in failures[:10]:
        print(f"[load] failed: {r}")
    figure(
        "load",
        users=users,
        annotators=ANNOTATORS,
        managers=MANAGERS,
        seconds=SECONDS,
        warmup_s=WARMUP_SECONDS,
        requests=len(window),
        rps=f"{rps:.1f}",
        p50_ms=percentile(window_ms, 50),
        p95_ms=percentile(window_ms, 95),
        p99_ms=p99,
        cpu_ms_per_request=f"{per['cpu']:.1f}",
        app_cpu_ms=f"{per['app']:.1f}",
        db_cpu_ms=f"{per['db']:.1f}",
        pg_all_cpu_ms=f"{per['pg_cluster']:.1f}",
        db_backends_exited=cost.backends_exited,
        others_cpu_pct=f"{cost.others_percent:.0f}",
        failures=len(failures),
        server_errors=server_errors,
        throttled=codes.get(429, 0),
        logins=sum(1 for r in logins if r["status"] == 302),
        login_rush_s=f"{signed_in_at - run.started_at:.1f}",
        login_p50_ms=percentile([r["ms"] for r in logins], 50),
        login_p95_ms=percentile([r["ms"] for r in logins], 95),
        statuses_set=after["statuses"] - before["statuses"],
        claims=after["claims"] - before["claims"],
        doubles=after["doubles"],
    )
    assert server_errors == 0 and not any(code >= 500 for code in server_codes), error_tail
    assert codes.get(429, 0) == 0, "correct passwords were throttled"
    assert not failures, failures[:10]
    assert after["claims"] > before["claims"], "no pulling claim happened under load"
    assert after["doubles"] == 0, after
    assert after["queue_mismatch"] == after["count_drift"] == after["status_drift"] == 0, after
    judged = ANNOTATORS == DEFAULT_ANNOTATORS and (
        GOAL_MODE == "1" or (GOAL_MODE != "0" and cost.others_percent <= QUIET_OTHERS_PCT)
    )
    if not judged:
        why = (
            f"it is set for 52 users, not {users}"
            if ANNOTATORS != DEFAULT_ANNOTATORS
            else f"LOAD_GOAL={GOAL_MODE}, neighbours used {cost.others_percent:.0f}% of the box"
        )
        print(f"[load] goal not judged: {why}")
    if judged:
        assert all(met.values()), f"goal missed at {users} users: rps {rps:.1f}, p99 {p99} ms, cpu {per['cpu']:.1f} ms"
