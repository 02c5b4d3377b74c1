"""PostgreSQL restarted for real under load: once it is back, no 500s, and no item given twice.

Locust drives the same mix as test_load.py (fewer annotators, so that signing in is over quickly)
against gunicorn; once everyone has signed in and a few seconds of load have passed, the cluster is
restarted with pg_ctlcluster, `pg_isready` is polled until it answers, and the load goes on for
AFTER_SECONDS more. Requests are counted by phase from locust's request log: before (finished before
the restart began), after (started GRACE_SECONDS or more after pg_isready answered) and during (the
rest). The cluster is started again in a finally, whatever happens.

The loaded server runs with the production default, persistent connections (LOAD_CONN_MAX_AGE sets
DATABASE_CONN_MAX_AGE instead): every worker's connection is cut by the restart while in use or idle.
A second gunicorn, one worker with DATABASE_CONN_MAX_AGE=60, opens its connection before the restart
and sits idle through it: its first requests afterwards run on a connection PostgreSQL has terminated,
and must not answer 500 (they did before settings.py turned CONN_HEALTH_CHECKS on).
"""

import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from tests.load.conftest import (
    figure,
    holding_check,
    locust_running,
    other_sessions,
    pg_isready,
    pg_start,
    pg_version,
    start_gunicorn,
    which_or_unavailable,
)
from tests.needs import unavailable

pytestmark = pytest.mark.load

ANNOTATORS, MANAGERS = 12, 2
WARM_SECONDS = 5
AFTER_SECONDS = 15
GRACE_SECONDS = 2


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _probe(server) -> int:
    """One request that reads the database: a session cookie of the right shape is looked up, found
    nowhere, and the anonymous visitor is sent to sign in (302)."""
    request = urllib.request.Request(server.url + "/work/", headers={"Cookie": f"sessionid={secrets.token_hex(16)}"})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_postgresql_restart_under_load(load_db):
    db = load_db
    version = pg_version()
    if version is None or not pg_isready():
        unavailable("no local PostgreSQL cluster under /etc/postgresql to restart")
    pg_ctlcluster = which_or_unavailable("pg_ctlcluster")
    users = ANNOTATORS + MANAGERS
    conn_max_age = os.environ.get("LOAD_CONN_MAX_AGE")
    loaded_env = {} if conn_max_age is None else {"DATABASE_CONN_MAX_AGE": conn_max_age}
    restart_output = ""
    # Beside the loaded server, one that keeps its connection (one worker, DATABASE_CONN_MAX_AGE=60) and sits
    # idle through the outage: its first request afterwards runs on a connection PostgreSQL has dropped.
    with (
        start_gunicorn(db, "restart", **loaded_env) as server,
        start_gunicorn(db, "persistent", workers=1, DATABASE_CONN_MAX_AGE="60") as idle,
    ):
        idle_before = [_probe(idle) for _ in range(2)]
        try:
            with locust_running(server, db, users=users, label="restart") as run:
                signed_in_at = run.wait_for_logins(users)
                print(f"\n[restart] {users} users signed in after {signed_in_at - run.started_at:.1f}s")
                time.sleep(WARM_SECONDS)
                others = other_sessions(db)
                if others:
                    print(f"[restart] the restart also cuts these connections to other databases: {others}")
                restart_at = time.time()
                restart = subprocess.run(
                    [pg_ctlcluster, "--skip-systemctl-redirect", version, "main", "restart"],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                restart_output = (restart.stdout + restart.stderr).strip()
                assert restart.returncode == 0, f"pg_ctlcluster restart failed: {restart_output}"
                while not pg_isready():
                    assert time.time() - restart_at < 120, "PostgreSQL did not come back within 120 s"
                    time.sleep(0.1)
                ready_at = time.time()
                time.sleep(GRACE_SECONDS)
                idle_after = [_probe(idle) for _ in range(3)]
                time.sleep(AFTER_SECONDS - GRACE_SECONDS)
        finally:
            pg_start()
        error_tail = server.error_tail(120)
        idle_tail = idle.error_tail(40)

    rows = run.requests()
    after_from = ready_at + GRACE_SECONDS
    phases = {"before": [], "during": [], "after": []}
    for r in rows:
        if r["t"] + r["ms"] / 1000 < restart_at:
            phases["before"].append(r)
        elif r["t"] >= after_from:
            phases["after"].append(r)
        else:
            phases["during"].append(r)

    def errors(phase, server_only=False):
        bad = [r for r in phases[phase] if r["status"] >= 500 or (not server_only and (r["error"] or not r["status"]))]
        return len(bad)

    check = holding_check(db)
    for phase, items in phases.items():
        codes = Counter(r["status"] for r in items)
        print(f"[restart] {phase}: {len(items)} requests, codes {dict(sorted(codes.items()))}")
    bad_after = [r for r in phases["after"] if r["status"] >= 500 or not r["status"]]
    for r in bad_after[:10]:
        print(f"[restart] after, failed: {r}")
    print(f"[restart] idle server with a persistent connection: before {idle_before}, after {idle_after}")
    print(f"[restart] pg_ctlcluster: {restart_output or 'ok'}; database: {check}")
    figure(
        "pg_restart",
        users=users,
        requests_before=len(phases["before"]),
        errors_before=errors("before"),
        during=len(phases["during"]),
        errors_during=errors("during"),
        after=len(phases["after"]),
        server_errors_after=errors("after", server_only=True),
        failures_after=errors("after"),
        doubles=check["doubles"],
        outage_s=f"{ready_at - restart_at:.1f}",
        conn_max_age=conn_max_age or "default",
        persistent_idle_errors_after=sum(1 for code in idle_after if code != 302),
    )
    assert phases["after"], "no requests after PostgreSQL came back"
    assert errors("after", server_only=True) == 0, error_tail
    assert errors("after") == 0, bad_after[:10]
    assert errors("before") == 0
    assert idle_before == [302, 302], idle_tail
    assert idle_after == [302, 302, 302], idle_tail
    assert check["doubles"] == 0, check
    assert check["queue_mismatch"] == check["count_drift"] == check["status_drift"] == 0, check
