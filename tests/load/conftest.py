"""Load tests: real gunicorn, real PostgreSQL, locust. Run on their own:

    .venv/bin/python -m pytest -q -s -m load tests/load

No pytest-django database fixture is used here (a PostgreSQL restart would break its connection):
the session fixture `load_db` creates its own database `tb_load_<hex>`, migrates and seeds it in
subprocesses, and drops it at the end, even on failure. `start_gunicorn` serves `taskboard.wsgi`
with production settings (DEBUG off, a random SECRET_KEY, no HTTPS rules since this is plain HTTP
on loopback, jobs in-process, the cache and sessions in Redis at LOAD_REDIS_CACHE_URL, database 14 by
default). Without PostgreSQL, Redis, gunicorn or locust the tests skip; with CI set they fail instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.needs import redis_or_unavailable, unavailable

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
ADMIN_DSN = os.environ.get("LOAD_POSTGRES_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL_BASE = os.environ.get("LOAD_POSTGRES_URL_BASE", "postgres://postgres@127.0.0.1:5432")
# The served application's cache and sessions, as in production; "" serves without Redis (per-process
# memory cache, sessions in the database).
REDIS_CACHE_URL = os.environ.get("LOAD_REDIS_CACHE_URL", "redis://127.0.0.1:6379/14")

# Tables the checks read with plain SQL (the pytest process has no Django database of its own here).
TASK_ITEM = "annotation_taskitem"
ASSIGNMENT = "annotation_assignment"
STATUS_COUNT = "annotation_statuscount"
CHANGE = "annotation_holdingchange"


def figure(name: str, **values) -> str:
    line = "FIGURE " + name + " " + " ".join(f"{k}={v}" for k, v in values.items())
    print(line, flush=True)
    return line


def pg_isready() -> bool:
    try:
        return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def pg_version() -> str | None:
    try:
        versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".") if p.isdigit()])
    except OSError:
        return None
    return versions[-1] if versions else None


def pg_start() -> None:
    """Make sure the cluster runs (a restart test's finally, or a cluster found stopped)."""
    version = pg_version()
    if version and not pg_isready():
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            capture_output=True,
            timeout=60,
        )
    for _ in range(60):
        if pg_isready():
            return
        time.sleep(0.5)


def admin_connect():
    import psycopg

    return psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5)


def connect(name: str):
    import psycopg

    return psycopg.connect(ADMIN_DSN.replace("dbname=postgres", f"dbname={name}"), autocommit=True, connect_timeout=5)


def production_env(**extra: str) -> dict[str, str]:
    """The environment of a production-like process: nothing of pytest's (PYTEST_VERSION would switch
    settings.py to its test overrides), nothing of the caller's database, broker or cache."""
    drop = {
        "PYTEST_VERSION",
        "PYTEST_CURRENT_TEST",
        "PYTEST_XDIST_WORKER",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "DATABASE_URL",
        "DATABASE_CONN_MAX_AGE",
        "CELERY_BROKER_URL",
        "REDIS_CACHE_URL",
        "SQLITE_TEST_NAME",
    }
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("LOGIN_")}
    env.update(
        DJANGO_SETTINGS_MODULE="taskboard.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        SECURE_HSTS_SECONDS="0",
        LOG_LEVEL="WARNING",
        MEDIA_ROOT="/tmp/taskboard-load-media",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class LoadDB:
    name: str
    url: str
    seed: dict
    seed_path: Path
    tmp: Path


@pytest.fixture(scope="session")
def load_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("load")


@pytest.fixture(scope="session")
def load_db(load_tmp):
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed")
    if not pg_isready():
        unavailable("PostgreSQL does not answer on 127.0.0.1:5432")
    name = f"tb_load_{secrets.token_hex(4)}"
    try:
        with admin_connect() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except Exception as error:  # noqa: BLE001
        unavailable(f"cannot create a PostgreSQL database: {error}")
    url = f"{PG_URL_BASE}/{name}"
    try:
        env = production_env(DATABASE_URL=url)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"migrate failed:\n{result.stdout}\n{result.stderr}"
        seed_path = load_tmp / "seed.json"
        result = subprocess.run(
            [sys.executable, "-m", "tests.load.seed", str(seed_path), secrets.token_urlsafe(12)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"seed failed:\n{result.stdout}\n{result.stderr}"
        print(f"\n[load] database {name}: {result.stdout.strip()} ({time.perf_counter() - started:.1f}s)", flush=True)
        yield LoadDB(name=name, url=url, seed=json.loads(seed_path.read_text()), seed_path=seed_path, tmp=load_tmp)
    finally:
        pg_start()  # a failed restart test may have left it down
        with contextlib.suppress(Exception), admin_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    access_log: Path
    error_log: Path
    cpu_log: Path

    def request_cpu(self) -> list[dict]:
        """What gunicorn_hooks.py logged: each request's end time, locust name, status and worker CPU (ms)."""
        rows = []
        if self.cpu_log.exists():
            for line in self.cpu_log.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) == 4:
                    t, name, status, cpu_ms = parts
                    rows.append({"t": float(t), "name": name, "status": int(status), "cpu_ms": float(cpu_ms)})
        return rows

    def statuses(self) -> Counter:
        """Status codes gunicorn's access log saw (its format's status field)."""
        codes = Counter()
        if self.access_log.exists():
            for line in self.access_log.read_text().splitlines():
                parts = line.split('" ')
                if len(parts) >= 2 and parts[1][:3].isdigit():
                    codes[int(parts[1][:3])] += 1
        return codes

    def error_tail(self, lines: int = 60) -> str:
        if not self.error_log.exists():
            return ""
        return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])


def _server_env() -> dict[str, str]:
    """LOAD_SERVER_ENV="NAME=value,NAME=value": settings for the served application, to compare them."""
    pairs = [p for p in os.environ.get("LOAD_SERVER_ENV", "").split(",") if p.strip()]
    return dict(p.strip().split("=", 1) for p in pairs)


@contextlib.contextmanager
def start_gunicorn(db: LoadDB, label: str, workers: int | None = None, **env_extra: str):
    """gunicorn as the README runs it (the repository's gunicorn.conf.py, through gunicorn_hooks.py),
    on a free port; `workers` overrides the configured count, LOAD_GUNICORN_ARGS adds options
    (e.g. "--worker-class gthread --threads 4 --keep-alive 30" to measure the threaded model)."""
    gunicorn = BIN / "gunicorn"
    if not gunicorn.exists():
        unavailable(f"gunicorn is not installed in {BIN}")
    port = free_port()
    access_log, error_log = db.tmp / f"{label}-access.log", db.tmp / f"{label}-error.log"
    cpu_log = db.tmp / f"{label}-cpu.log"
    if REDIS_CACHE_URL:
        redis_or_unavailable(REDIS_CACHE_URL)
        env_extra = {"REDIS_CACHE_URL": REDIS_CACHE_URL, **env_extra}
    env = production_env(DATABASE_URL=db.url, LOAD_REQUEST_CPU_LOG=str(cpu_log), **{**_server_env(), **env_extra})
    command = [
        str(gunicorn),
        "--config",
        str(HERE / "gunicorn_hooks.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        str(access_log),
        "--error-logfile",
        str(error_log),
        "--capture-output",
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    command += shlex.split(os.environ.get("LOAD_GUNICORN_ARGS", ""))
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = Server(
        url=f"http://127.0.0.1:{port}", process=process, access_log=access_log, error_log=error_log, cpu_log=cpu_log
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited with {process.returncode}:\n{server.error_tail()}")
            try:
                with urllib.request.urlopen(server.url + "/accounts/login/", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not answer within 60 s:\n{server.error_tail()}")
            time.sleep(0.3)
        yield server
    finally:
        stop_group(process, timeout=20)


def locust_available() -> Path:
    locust = BIN / "locust"
    if not locust.exists():
        unavailable(f"locust is not installed in {BIN} (pip install -r requirements-dev.txt)")
    result = subprocess.run([str(locust), "--version"], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        unavailable(f"locust does not run: {result.stderr.strip()[-300:]}")
    return locust


@dataclass
class LocustRun:
    process: subprocess.Popen
    request_log: Path
    csv_prefix: Path
    started_at: float
    stopped_at: float = 0.0

    def requests(self) -> list[dict]:
        """The request log, less what the stop itself cut off: locust ends its users mid-request on
        SIGTERM, and such a request shows as status 0 though the server did nothing wrong."""
        return [r for r in read_request_log(self.request_log) if r["t"] + r["ms"] / 1000 < self.stopped_at]

    def stats(self) -> list[dict]:
        """locust's own table (`--csv`), written when it stops: one row per request name and `Aggregated`."""
        import csv

        with open(f"{self.csv_prefix}_stats.csv", newline="") as handle:
            return list(csv.DictReader(handle))

    def wait_for_logins(self, users: int, timeout: float = 240) -> float:
        """Block until `users` sign-ins have answered 302; returns when (time.time()) the last one ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"locust exited early ({self.process.returncode})")
            done = [r for r in read_request_log(self.request_log) if r["name"] == "login" and r["status"] == 302]
            if len(done) >= users:
                return max(r["t"] + r["ms"] / 1000 for r in done)
            time.sleep(0.5)
        raise AssertionError(f"not every user signed in within {timeout:.0f} s")


@contextlib.contextmanager
def locust_running(server: Server, db: LoadDB, *, users: int, label: str):
    """locust, headless, against `server` until the block ends (SIGTERM: it stops its users and writes its CSV).

    Spawns all users within two seconds (-r users/2) and signs each in as it starts; see locustfile.py.
    """
    locust = locust_available()
    request_log, csv_prefix = db.tmp / f"{label}-requests.jsonl", db.tmp / label
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update(LOAD_SEED=str(db.seed_path), LOAD_REQUEST_LOG=str(request_log), PYTHONUNBUFFERED="1")
    command = [
        str(locust),
        "-f",
        str(HERE / "locustfile.py"),
        "--headless",
        "--host",
        server.url,
        "-u",
        str(users),
        "-r",
        str(max(1, users // 2)),
        "-t",
        "300s",  # a cap: the test stops it
        "--stop-timeout",
        "5",
        "--csv",
        str(csv_prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    with (db.tmp / f"{label}-locust.log").open("w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        run = LocustRun(process=process, request_log=request_log, csv_prefix=csv_prefix, started_at=time.time())
        try:
            yield run
        finally:
            run.stopped_at = time.time()
            stop_group(process, timeout=30)


def percentile(values: list[float], p: int) -> str:
    values = sorted(values)
    return f"{values[min(len(values) - 1, len(values) * p // 100)]:.0f}" if values else "na"


def read_request_log(path: Path) -> list[dict]:
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                rows.append(json.loads(line))
    return rows


def holding_check(db: LoadDB) -> dict[str, int]:
    """What "an item given twice" can look like in this schema, counted with SQL on the load database.

    - duplicate_rows: two task-item rows for one (task, item, copy) (the unique constraint forbids it);
    - claimed_twice: an item of the pulling task that two claims handed out;
    - claim_mismatch: a claimed item that is not where its claim put it (nothing else moves items here);
    - queue_mismatch: a row whose `in_queue` flag disagrees with sitting in the queue assignment;
    - count_drift / status_drift: assignments whose item_count (a queue's: its intake) or
      claimed_count, or StatusCount rows whose count, differ from the rows they count (counters
      change in the same transaction as the rows).
    """
    task = db.seed["pulling_task_id"]
    tasks = [task, db.seed["split_task_id"]]
    with connect(db.name) as conn:

        def one(sql: str, params) -> int:
            return int(conn.execute(sql, params).fetchone()[0])

        result = {
            "duplicate_rows": one(
                f"SELECT count(*) FROM (SELECT 1 FROM {TASK_ITEM} WHERE task_id = ANY(%s) "
                f"GROUP BY task_id, item_id, copy HAVING count(*) > 1) d",
                [tasks],
            ),
            "claimed_twice": one(
                f"SELECT count(*) FROM (SELECT 1 FROM {CHANGE} WHERE task_id = %s AND kind = 'claim' "
                f"GROUP BY item_id HAVING count(*) > 1) d",
                [task],
            ),
            "claim_mismatch": one(
                f"SELECT count(*) FROM {CHANGE} c JOIN {TASK_ITEM} t "
                f"ON t.task_id = c.task_id AND t.item_id = c.item_id "
                f"WHERE c.task_id = %s AND c.kind = 'claim' AND t.assignment_id <> c.to_assignment_id",
                [task],
            ),
            "queue_mismatch": one(
                f"SELECT count(*) FROM {TASK_ITEM} t JOIN {ASSIGNMENT} a ON a.id = t.assignment_id "
                f"WHERE t.task_id = %s AND t.in_queue <> (a.kind = 'queue')",
                [task],
            ),
            # A queue's item_count is its intake: the rows still queued plus what its task's work
            # assignments claimed (claimed_count, which must match the claim records).
            "count_drift": one(
                f"SELECT count(*) FROM {ASSIGNMENT} a WHERE a.task_id = ANY(%s) AND a.item_count <> "
                f"(SELECT count(*) FROM {TASK_ITEM} t WHERE t.assignment_id = a.id) + CASE WHEN a.kind = 'queue' "
                f"THEN (SELECT coalesce(sum(w.claimed_count), 0) FROM {ASSIGNMENT} w "
                f"WHERE w.task_id = a.task_id AND w.kind = 'work') ELSE 0 END",
                [tasks],
            )
            + one(
                f"SELECT count(*) FROM {ASSIGNMENT} a WHERE a.task_id = ANY(%s) AND a.kind = 'work' AND "
                f"a.claimed_count <> (SELECT count(*) FROM {CHANGE} c WHERE c.kind = 'claim' "
                f"AND c.to_assignment_id = a.id)",
                [tasks],
            ),
            "status_drift": one(
                f"SELECT count(*) FROM {STATUS_COUNT} s JOIN {ASSIGNMENT} a ON a.id = s.assignment_id "
                f"WHERE a.task_id = ANY(%s) AND s.count <> "
                f"(SELECT count(*) FROM {TASK_ITEM} t WHERE t.assignment_id = a.id AND t.status = s.status)",
                [tasks],
            ),
            "claims": one(f"SELECT count(*) FROM {CHANGE} WHERE task_id = %s AND kind = 'claim'", [task]),
            "statuses": one(
                f"SELECT count(*) FROM {TASK_ITEM} WHERE task_id = ANY(%s) AND status IS NOT NULL", [tasks]
            ),
        }
    result["doubles"] = result["duplicate_rows"] + result["claimed_twice"] + result["claim_mismatch"]
    return result


def other_sessions(db: LoadDB) -> dict[str, int]:
    """Connections to other databases of the cluster: a restart cuts them too (worth a line in the log)."""
    with admin_connect() as admin:
        rows = admin.execute(
            "SELECT datname, count(*) FROM pg_stat_activity WHERE datname IS NOT NULL AND datname <> ALL(%s) "
            "AND pid <> pg_backend_pid() GROUP BY datname",
            [[db.name]],
        ).fetchall()
    return {name: n for name, n in rows}


def kill_group(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def stop_group(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to the process group a test started (start_new_session), SIGKILL to what is left of it
    after `timeout`: the leader's children too (gunicorn's workers), even when the leader died first."""
    kill_group(process, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    deadline = time.monotonic() + 5
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    kill_group(process, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def which_or_unavailable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not on PATH")
    return path
