"""gunicorn settings for the load tests: the repository's gunicorn.conf.py, plus hooks that log each
request's CPU in the worker, by locust's request name.

The locustfile names every request in an `X-Load-Name` header; post_request appends one line per
request to LOAD_REQUEST_CPU_LOG: end time, name, status, CPU milliseconds of the thread that served it
(time.thread_time: the worker's own CPU for this request, from the parsed request to the last byte
written; PostgreSQL's share is not in it). Lines are short and written with O_APPEND, so the workers'
lines do not interleave.
"""

import os
import runpy
import time
from pathlib import Path

# The production settings, as `gunicorn -c gunicorn.conf.py` reads them; the command line overrides them.
globals().update(
    {
        name: value
        for name, value in runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py")).items()
        if not name.startswith("_")
    }
)

_LOG = os.environ.get("LOAD_REQUEST_CPU_LOG")


def pre_request(worker, req):
    req.load_cpu_started = time.thread_time()


def post_request(worker, req, environ, resp):
    if not _LOG or not hasattr(req, "load_cpu_started"):
        return
    cpu_ms = (time.thread_time() - req.load_cpu_started) * 1000
    name = environ.get("HTTP_X_LOAD_NAME", "?").replace("\t", " ")
    status = getattr(resp, "status_code", 0) or 0
    line = f"{time.time():.3f}\t{name}\t{status}\t{cpu_ms:.2f}\n".encode()
    fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
