"""CPU spent by the processes a load test involves, read from /proc (Linux only).

A process's CPU is utime + stime in /proc/PID/stat; a parent's cutime + cstime holds what its
children used once they exited and were reaped. So the CPU of a process tree between two moments is
the change of Σ(utime + stime) over its live processes plus its leader's cutime + cstime: exact even
when children come and go (gunicorn replacing a worker, PostgreSQL forking a backend per connection).

- the application: gunicorn's session (the test starts it with start_new_session, so the master's pid
  is every worker's session id);
- the load generator: locust's session, the same way;
- the load database: the PostgreSQL backends whose process title names it ("postgres: 15/main: user
  db 127.0.0.1(port) idle"), followed by pid. A sampler thread reads them every SAMPLE_SECONDS, so a
  backend that exits between two reads loses its last moments: exact for persistent connections,
  an undercount for one connection per request (then `db_backends_exited` says how many came and went);
- the whole PostgreSQL cluster: every `postgres` process plus each postmaster's reaped children.
  Exact, but it includes the other databases of the cluster (other engineers' tests on a shared box).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.2


@dataclass(frozen=True)
class Stat:
    pid: int
    comm: str
    ppid: int
    sid: int
    cpu: float  # seconds: utime + stime
    reaped_children_cpu: float  # seconds: cutime + cstime


def read_stat(pid: int) -> Stat | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            raw = handle.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: it ends at the last ')'.
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): ppid 4, session 6, utime 14, stime 15, cutime 16, cstime 17.
    return Stat(
        pid=pid,
        comm=comm,
        ppid=int(rest[1]),
        sid=int(rest[3]),
        cpu=(int(rest[11]) + int(rest[12])) / TICK,
        reaped_children_cpu=(int(rest[13]) + int(rest[14])) / TICK,
    )


def pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def box_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores: /proc/stat's first line less idle and iowait)."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


def session_cpu(sid: int, stats: list[Stat]) -> float:
    """CPU seconds of a session's processes so far, its leader's reaped children included."""
    total = 0.0
    for stat in stats:
        if stat.sid == sid:
            total += stat.cpu
            if stat.pid == sid:
                total += stat.reaped_children_cpu
    return total


def postgres_cluster_cpu(stats: list[Stat]) -> float:
    by_pid = {s.pid: s for s in stats}
    total = 0.0
    for stat in stats:
        if stat.comm == "postgres":
            total += stat.cpu
            parent = by_pid.get(stat.ppid)
            if parent is None or parent.comm != "postgres":  # a postmaster: its exited backends too
                total += stat.reaped_children_cpu
    return total


@dataclass
class Snapshot:
    at: float
    app: float
    locust: float
    cluster: float
    box: float
    backends: dict[int, float]  # the load database's backends seen so far: pid -> CPU seconds
    app_processes: dict[int, float]  # gunicorn's live processes: pid -> CPU seconds


@dataclass
class Cost:
    seconds: float
    app: float
    locust: float
    db: float
    cluster: float
    box: float
    backends: int
    backends_exited: int
    workers: list[float]  # CPU seconds of each gunicorn process alive at both ends, most first

    def worker_shares(self) -> str:
        """Each gunicorn process's share of the application's CPU: even shares mean a spread load."""
        total = sum(self.workers) or 1
        return ", ".join(f"{100 * cpu / total:.0f}%" for cpu in self.workers)

    @property
    def others_percent(self) -> float:
        """What the rest of the box used (neighbours and their databases, this pytest process), in percent
        of all its cores."""
        others = self.box - self.app - self.locust - self.db
        return max(0.0, others) * 100 / (max(self.seconds, 1e-9) * (os.cpu_count() or 1))

    def per_request_ms(self, requests: int) -> dict[str, float]:
        n = max(1, requests)
        return {
            "cpu": (self.app + self.db) * 1000 / n,
            "app": self.app * 1000 / n,
            "db": self.db * 1000 / n,
            "pg_cluster": self.cluster * 1000 / n,
            "locust": self.locust * 1000 / n,
        }


@dataclass
class CostMeter:
    """Follows gunicorn's and locust's sessions and one database's backends; `mark()` takes a snapshot,
    `between(a, b)` is what was spent from one to the other."""

    app_sid: int
    locust_sid: int
    database: str
    _backends: dict[int, float] = field(default_factory=dict)  # pid -> last CPU seen
    _gone: dict[int, float] = field(default_factory=dict)  # pid -> when it was found gone
    _other: set[int] = field(default_factory=set)  # pids known not to be this database's backends
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> CostMeter:
        self._sample()
        self._thread = threading.Thread(target=self._run, name="cost-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def _sample(self) -> None:
        marker = f" {self.database} "
        now = time.time()
        with self._lock:
            live = set(pids())
            for pid in live - self._other - set(self._backends):
                stat = read_stat(pid)
                if stat is None or stat.comm != "postgres" or marker not in cmdline(pid) + " ":
                    self._other.add(pid)
                    continue
                self._backends[pid] = stat.cpu
            for pid in list(self._backends):
                if pid in self._gone:
                    continue
                stat = read_stat(pid) if pid in live else None
                if stat is None:
                    self._gone[pid] = now
                else:
                    self._backends[pid] = stat.cpu
            self._other &= live  # a pid may be reused by a new process

    def mark(self) -> Snapshot:
        self._sample()
        stats = [s for s in map(read_stat, pids()) if s is not None]
        with self._lock:
            backends = dict(self._backends)
        return Snapshot(
            at=time.time(),
            app=session_cpu(self.app_sid, stats),
            locust=session_cpu(self.locust_sid, stats),
            cluster=postgres_cluster_cpu(stats),
            box=box_busy(),
            backends=backends,
            app_processes={s.pid: s.cpu for s in stats if s.sid == self.app_sid},
        )

    def between(self, start: Snapshot, end: Snapshot) -> Cost:
        with self._lock:
            gone = dict(self._gone)
        # Every live backend is in `start` (mark() samples first): one missing from it was forked later.
        db = sum(cpu - start.backends.get(pid, 0.0) for pid, cpu in end.backends.items())
        involved = sum(1 for pid, cpu in end.backends.items() if cpu > start.backends.get(pid, -1.0))
        both = end.app_processes.keys() & start.app_processes.keys()
        return Cost(
            seconds=end.at - start.at,
            app=end.app - start.app,
            locust=end.locust - start.locust,
            db=db,
            cluster=end.cluster - start.cluster,
            box=end.box - start.box,
            backends=involved,
            backends_exited=sum(1 for at in gone.values() if start.at < at <= end.at),
            workers=sorted((end.app_processes[pid] - start.app_processes[pid] for pid in both), reverse=True),
        )
