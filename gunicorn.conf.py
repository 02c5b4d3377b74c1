"""gunicorn settings for Taskboard in production:

    .venv/bin/gunicorn -c gunicorn.conf.py taskboard.wsgi --bind 127.0.0.1:8000

Options on the command line override these; WEB_CONCURRENCY sets the number of workers.

Sync workers, one request at a time each, behind a proxy (nginx, Caddy, a load balancer) that buffers
requests and responses and keeps the browsers' keep-alive connections on its side. Measured on
2 cores with 52 users (tests/load, issue 22): threaded workers (gthread, 4 x 4 threads, keep-alive
30 s) keep each keep-alive connection on the worker that accepted it, so one worker took 34 to 48 of
the 52 connections and ran at 66-70% CPU while the three others idled at 4-12%, and its 16 threads
queued on each other and on the task-row lock. A sync worker accepts a connection only when it is
idle and closes it after the response, so the kernel hands each request to a free worker: the load
spreads by itself (the load test prints each process's share: 19-21% for each of five), and a worker
holds one database connection at a time (taskboard/settings.py keeps it between requests). The
price is a new loopback connection per request from the proxy, which costs far less than a queued
request; a slow client must never reach a sync worker directly, hence the proxy.
"""

import os


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (containers, taskset)
    except AttributeError:
        return os.cpu_count() or 1


def _workers() -> int:
    raw = os.environ.get("WEB_CONCURRENCY")
    if raw is None:
        # A request spends part of its time waiting on PostgreSQL (a round trip per query) and on
        # row locks: with twice the cores plus one, a core has a request ready to run while another
        # waits. More workers add database connections and requests contending for the same locks,
        # not throughput, once the cores are busy.
        return 2 * _cores() + 1
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"WEB_CONCURRENCY must be a whole number of workers; got {raw!r}.") from None
    if value < 1:
        raise SystemExit(f"WEB_CONCURRENCY must be at least 1; got {value}.")
    return value


wsgi_app = "taskboard.wsgi"
worker_class = "sync"
workers = _workers()
# A request still running after this long is stuck (the slowest page takes well under a second);
# its worker is killed and replaced. Long work belongs in jobs.
timeout = 30
graceful_timeout = 10
# Workers beat by touching a file every second; on a disk-backed /tmp that write can stall a worker.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
