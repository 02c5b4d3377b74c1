"""Fixtures of the notification tests: a webhook receiver the tests start on 127.0.0.1 (it records
what it is sent and answers as told: ok, 500, slow, a redirect; or it is down), and two job runners."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taskboard.jobs.registry import job_runner


class Receiver:
    def __init__(self):
        self.mode = "ok"
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if receiver.mode == "slow":
                    time.sleep(2.5)
                status = {"ok": 200, "slow": 200, "500": 500, "redirect": 302}[receiver.mode]
                answer = b"thanks" if status == 200 else b"boom"
                try:
                    self.send_response(status)
                    if status == 302:
                        self.send_header("Location", "http://169.254.169.254/")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except BrokenPipeError:
                    pass  # the sender gave up waiting (the slow case)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def payloads(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the receiver is on loopback
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    running = Receiver()
    yield running
    running.stop()


@job_runner("test_notify_ok")
def job_that_finishes(*, job, progress):
    return {}


@job_runner("test_notify_broken")
def job_that_breaks(*, job, progress):
    raise RuntimeError("boom")
