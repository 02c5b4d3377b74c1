"""Benchmark: CPU per request of the load test's mix, in one process, against PostgreSQL.

    .venv/bin/python bench/request_cpu.py                    # seed afresh, warm up, measure

BENCH_DB names its PostgreSQL database (tb_requestcpu; dropped and made afresh unless --reuse),
BENCH_REDIS_URL the Redis database it clears and keeps sessions and the cache in (13).

    .venv/bin/python bench/request_cpu.py --reuse            # keep the seeded database (faster)
    .venv/bin/python bench/request_cpu.py --profile out.prof # cProfile the measured requests

The load test (tests/load) measures the same thing with gunicorn and locust on the machine, and
its wall-clock figures move with whatever else the machine runs. This counts CPU only: each
request is a WSGI call into Django's own handler (`taskboard.wsgi`'s application, its middleware,
`request_started`/`request_finished` and the persistent connection's health check, with production
settings: DEBUG off, the cache and sessions in Redis), timed with `time.thread_time`, and the
database's share is the CPU its backend process spent (/proc/PID/stat), read before and after each
request. One connection, one backend: nothing else adds to it.

The users are the load test's (tests/load/seed.py: 50 annotators, 2 managers, a pulling task and a
split task) and do what tests/load/locustfile.py makes them do, with its weights and waits, on a
simulated clock (each request counts 0.175 s, the load test's p50), so the mix of requests matches
it. Users are signed in by writing their sessions (the sign-in's PBKDF2 is not what is measured).

The floor, measured in the same run: the sign-in page, anonymous (the middleware, a small template,
no database). The FIGURE gives the mix's CPU per request in ms, app and database, and as a ratio
to the floor, so runs on different machines compare.
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import io
import json
import os
import pstats
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = os.environ.get("BENCH_DB", "tb_requestcpu")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskboard.settings")
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
os.environ["REDIS_CACHE_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 32)
os.environ.update(
    DEBUG="0",
    ALLOWED_HOSTS="127.0.0.1",
    SECURE_SSL_REDIRECT="0",
    SECURE_COOKIES="0",
    SECURE_HSTS_SECONDS="0",
    LOG_LEVEL="WARNING",
    MEDIA_ROOT="/tmp/taskboard-bench-media",
)
os.environ.pop("PYTEST_VERSION", None)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402
from pgbench_setup import log, reset_database  # noqa: E402

from taskboard.accounts.models import User  # noqa: E402

SEED_PATH = Path(f"/tmp/{DB_NAME}-seed.json")
TICK = os.sysconf("SC_CLK_TCK")
SIMULATED_LATENCY = 0.175
STATUS_FORM = re.compile(r'action="(/work/assignments/\d+/items/\d+/status/)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
GET_MORE = re.compile(r"<button[^>]*data-shortcut=\"g\"[^>]*>")


def backend_cpu(pid: int) -> float:
    """CPU seconds the PostgreSQL backend has used (utime + stime)."""
    with open(f"/proc/{pid}/stat") as handle:
        rest = handle.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICK


@dataclass
class Meter:
    """Per request name: the application's CPU (this thread) and the database backend's."""

    app: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    db: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    on: bool = False

    def total(self) -> tuple[int, float, float]:
        n = sum(len(v) for v in self.app.values())
        return n, sum(sum(v) for v in self.app.values()), sum(self.db.values())


class Client:
    """Cookies and one WSGI call per request, no redirects followed."""

    def __init__(self, app, meter: Meter, profiler: cProfile.Profile | None):
        self.app, self.meter, self.profiler = app, meter, profiler
        self.cookies: dict[str, str] = {}

    def request(self, method: str, url: str, name: str, data: dict | None = None, headers: dict | None = None):
        parts = urlsplit(url)
        body = urlencode(data or {}).encode()
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_COOKIE": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if method == "POST":
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
            environ["CONTENT_LENGTH"] = str(len(body))
        for key, value in (headers or {}).items():
            environ["HTTP_" + key.upper().replace("-", "_")] = value
        captured: dict = {}

        def start_response(status, response_headers, exc_info=None):
            captured["status"] = int(status.split()[0])
            captured["headers"] = response_headers

        pid = connection.connection.info.backend_pid if connection.connection is not None else None
        db0 = backend_cpu(pid) if pid else 0.0
        if self.profiler is not None and self.meter.on:
            self.profiler.enable()
        t0 = time.thread_time()
        result = self.app(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        spent = time.thread_time() - t0
        if self.profiler is not None and self.meter.on:
            self.profiler.disable()
        pid_after = connection.connection.info.backend_pid if connection.connection is not None else None
        db1 = backend_cpu(pid_after) if pid_after else 0.0
        if self.meter.on:
            self.meter.app[name].append(spent)
            # A new connection's first backend CPU is all this request's.
            self.meter.db[name] += db1 - db0 if pid == pid_after else db1
        location = ""
        for key, value in captured["headers"]:
            if key.lower() == "set-cookie":
                cookie = SimpleCookie()
                cookie.load(value)
                for morsel in cookie.values():
                    self.cookies[morsel.key] = morsel.value
            elif key.lower() == "location":
                location = value
        return captured["status"], location, content.decode()


class User_:
    wait = (0.5, 1.5)

    def __init__(self, client: Client, rng: random.Random):
        self.client, self.rng = client, rng

    def fetch(self, url, name, headers=None):
        return self.client.request("GET", url, name, headers=headers)

    def submit(self, url, name, data):
        return self.client.request("POST", url, name, data={**data, "csrfmiddlewaretoken": self.csrf})

    @property
    def csrf(self) -> str:
        return self.client.cookies.get("csrftoken", "")


class Annotator(User_):
    def __init__(self, client, rng, me: dict):
        super().__init__(client, rng)
        self.assignments = {"pull": me["pulling_assignment"], "split": me["split_assignment"]}
        self.status_url: dict[str, str | None] = {"pull": None, "split": None}
        self.may_pull = False
        self.token = ""

    def _item_page(self, kind, url):
        status, _, html = self.fetch(url, "work item")
        if status != 200:
            self.status_url[kind] = None
            return 1
        form = STATUS_FORM.search(html)
        self.status_url[kind] = form.group(1) if form else None
        token = CSRF_INPUT.search(html)
        if token:
            self.token = token.group(1)
        if kind == "pull":
            button = GET_MORE.search(html)
            self.may_pull = bool(button) and "disabled" not in button.group(0)
        return 1

    def _open(self, kind) -> int:
        status, location, _ = self.fetch(f"/work/assignments/{self.assignments[kind]}/", f"{kind}: open assignment")
        if status == 302:
            return 1 + self._item_page(kind, location)
        self.status_url[kind] = None
        return 1

    def _status(self, kind) -> int:
        n = 0
        if not self.status_url[kind]:
            n += self._open(kind)
        if not self.status_url[kind]:
            return n
        value = "discard" if self.rng.random() < 1 / 7 else "completed"
        status, location, _ = self.client.request(
            "POST",
            self.status_url[kind],
            f"{kind}: set status",
            data={"status": value, "csrfmiddlewaretoken": self.token or self.csrf},
        )
        n += 1
        if status != 302:
            raise AssertionError(f"set status answered {status}")
        return n + self._item_page(kind, location)

    def act(self) -> int:
        choice = self.rng.choices(["pull", "more", "split", "mine"], weights=[6, 3, 2, 2])[0]
        if choice == "pull":
            return self._status("pull")
        if choice == "split":
            return self._status("split")
        if choice == "mine":
            self.fetch("/work/", "my work")
            return 1
        n = self._open("pull")
        if self.may_pull:
            self.client.request(
                "POST",
                f"/work/assignments/{self.assignments['pull']}/more/",
                "pull: get more",
                data={"csrfmiddlewaretoken": self.token or self.csrf},
            )
            self.may_pull = False
            n += 1 + self._open("pull")
        return n


class Manager(User_):
    wait = (1.0, 3.0)
    htmx = {"HX-Request": "true"}

    def __init__(self, client, rng, seed: dict):
        super().__init__(client, rng)
        self.seed = seed

    def act(self) -> int:
        seed = self.seed
        choice = self.rng.choices(["poll", "progress", "dash", "project"], weights=[3, 2, 1, 1])[0]
        if choice == "poll":
            self.fetch(f"/dashboards/tasks/{seed['pulling_task_id']}/", "task dashboard poll (htmx)", self.htmx)
        elif choice == "progress":
            task_id = self.rng.choice([seed["pulling_task_id"], seed["split_task_id"]])
            self.fetch(f"/tasks/{task_id}/?part=progress", "task progress poll (htmx)", self.htmx)
        elif choice == "dash":
            self.fetch(f"/dashboards/tasks/{seed['pulling_task_id']}/", "task dashboard")
        else:
            url = f"/dashboards/projects/{seed['project_id']}/"
            self.fetch(url, "project dashboard")
            self.fetch(url, "project dashboard poll (htmx)", self.htmx)
            return 2
        return 1


def signed_in(app, meter, profiler, email: str) -> Client:
    """A client with a session as the sign-in form leaves it (cached_db: Redis and the table)."""
    engine = __import__(settings.SESSION_ENGINE, fromlist=["SessionStore"])
    user = User.objects.get(email=email)
    session = engine.SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]  # as the sign-in form writes it
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    client = Client(app, meter, profiler)
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return client


def seed(reuse: bool) -> dict:
    if reuse and SEED_PATH.exists():
        return json.loads(SEED_PATH.read_text())
    reset_database(DB_NAME)
    from tests.load import seed as load_seed  # the load test's own seed, unchanged

    load_seed.main(str(SEED_PATH), "bench-password")
    return json.loads(SEED_PATH.read_text())


def run_mix(actors: list, requests: int, rng: random.Random) -> None:
    """Each user acts at its own simulated time, then waits (its think time plus its requests)."""
    heap = [(rng.uniform(0, 2), i) for i in range(len(actors))]
    heapq.heapify(heap)
    done = 0
    while done < requests:
        at, i = heapq.heappop(heap)
        actor = actors[i]
        n = actor.act()
        done += n
        heapq.heappush(heap, (at + n * SIMULATED_LATENCY + rng.uniform(*actor.wait), i))


def floor(client: Client, meter: Meter, n: int) -> tuple[float, float]:
    for _ in range(20):
        client.request("GET", "/accounts/login/", "floor")
    meter.on = True
    for _ in range(n):
        client.request("GET", "/accounts/login/", "floor")
    meter.on = False
    spent = meter.app["floor"]
    return statistics.fmean(spent) * 1000, meter.db["floor"] * 1000 / len(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="measured requests (default 3000)")
    parser.add_argument("--warmup", type=int, default=600, help="requests before measuring (default 600)")
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database of an earlier run")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the measured requests into FILE")
    parser.add_argument("--seed", type=int, default=22)
    args = parser.parse_args()

    data = seed(args.reuse)
    cache.clear()  # this bench's own Redis database: sessions and cached counts start cold
    app = get_wsgi_application()
    rng = random.Random(args.seed)
    # CPU time, not wall time: on a shared machine, waiting for the database or for a core is not cost.
    profiler = cProfile.Profile(time.thread_time) if args.profile else None
    meter = Meter()
    actors: list = [Annotator(signed_in(app, meter, profiler, me["email"]), rng, me) for me in data["annotators"]] + [
        Manager(signed_in(app, meter, profiler, email), rng, data) for email in data["managers"]
    ]

    floor_meter = Meter()
    floor_client = Client(app, floor_meter, None)
    floor(floor_client, floor_meter, 300)  # before and after the mix: the machine may change meanwhile
    run_mix(actors, args.warmup, rng)
    meter.on = True
    started = time.perf_counter()
    run_mix(actors, args.requests, rng)
    wall = time.perf_counter() - started
    meter.on = False
    floor_app, floor_db = floor(floor_client, floor_meter, 300)

    n, app_s, db_s = meter.total()
    log(f"[request_cpu] {n} requests in {wall:.1f}s wall, by name (mean ms of CPU):")
    for name in sorted(meter.app, key=lambda k: -sum(meter.app[k])):
        spent = meter.app[name]
        log(
            f"  {len(spent):5d}  {name:32s} app {1000 * statistics.fmean(spent):6.2f}  "
            f"db {1000 * meter.db[name] / len(spent):6.2f}  ({100 * sum(spent) / app_s:4.1f}% of app CPU)"
        )
    app_ms, db_ms = 1000 * app_s / n, 1000 * db_s / n
    log(f"  floor (sign-in page, anonymous): app {floor_app:.2f} ms, db {floor_db:.2f} ms")
    log(
        f"FIGURE request_cpu requests={n} cpu_ms_per_request={app_ms + db_ms:.2f} app_cpu_ms={app_ms:.2f} "
        f"db_cpu_ms={db_ms:.2f} floor_ms={floor_app:.2f} ratio={(app_ms + db_ms) / floor_app:.2f}"
    )
    if profiler is not None:
        profiler.dump_stats(args.profile)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
        Path(args.profile + ".txt").write_text(out.getvalue())
        log(f"profile: {args.profile} (top functions in {args.profile}.txt)")


if __name__ == "__main__":
    main()
