"""50 annotators pulling at once never receive the same item (PostgreSQL and SQLite)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.work import concurrency

ROOT = Path(__file__).resolve().parents[2]


def _check(report: dict, items: int) -> None:
    assert report["errors"] == []
    assert report["held_by_two"] == 0
    assert report["claimed_twice"] == 0
    assert report["items"] == items and report["counted"] == items
    assert report["queue_left"] == 0 and report["completed"] == items


@pytest.mark.postgres
def test_fifty_pullers_never_share_an_item_on_postgresql(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only; the SQLite run is the next test.")
    task, people = concurrency.build(users=50, items=300)
    report = concurrency.run(task, people)
    print(report)
    _check(report, 300)


def test_fifty_pullers_never_share_an_item_on_sqlite(tmp_path):
    # Threads cannot share the in-memory test database, so this runs in a child process against
    # a file database with the project's own SQLite settings (WAL, IMMEDIATE transactions).
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'race.sqlite3'}", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "tests.work.concurrency", "50", "300"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(report)
    assert report["vendor"] == "sqlite"
    _check(report, 300)
