"""50 annotators and 2 managers against gunicorn and PostgreSQL on loopback, for a bounded time.

locust starts all 52 users within two seconds; each signs in (PBKDF2 at Django's 1,000,000
iterations: about 0.8 s of CPU per sign-in, so the rush takes a while on two cores), then works.
Once the last sign-in has answered, the mix runs for SECONDS more and locust is stopped. The FIGURE's
requests, rps and percentiles are those SECONDS of 52 signed-in users (from the request log, exact
rather than locust's rounded buckets); the sign-in rush has its own figures; failures and server
errors count the whole run. Requests by name are locust's own table.
"""

import time
from collections import Counter

import pytest

from tests.load.conftest import (
    figure,
    holding_check,
    locust_running,
    percentile,
    start_gunicorn,
)

pytestmark = pytest.mark.load

ANNOTATORS, MANAGERS = 50, 2
SECONDS = 40


def test_fifty_users_mixing_pulling_statuses_and_dashboards(load_db):
    db = load_db
    users = ANNOTATORS + MANAGERS
    before = holding_check(db)
    with start_gunicorn(db, "load") as server, locust_running(server, db, users=users, label="load") as run:
        signed_in_at = run.wait_for_logins(users)
        time.sleep(max(0.0, signed_in_at + SECONDS - time.time()))
        stop_at = time.time()
    server_codes = server.statuses()
    error_tail = server.error_tail()
    after = holding_check(db)

    rows = run.requests()
    logins = [r for r in rows if r["name"] == "login"]
    window = [r for r in rows if signed_in_at <= r["t"] < stop_at and not r["name"].startswith("login")]
    window_ms = [r["ms"] for r in window]
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
    print(f"[load] database: {after}")
    for r in failures[:10]:
        print(f"[load] failed: {r}")
    figure(
        "load",
        users=users,
        annotators=ANNOTATORS,
        managers=MANAGERS,
        seconds=SECONDS,
        requests=len(window),
        rps=f"{len(window) / SECONDS:.1f}",
        p50_ms=percentile(window_ms, 50),
        p95_ms=percentile(window_ms, 95),
        p99_ms=percentile(window_ms, 99),
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
