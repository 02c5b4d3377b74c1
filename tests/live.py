"""The live server's request threads, waited for between tests."""

import threading
import time

import pytest


def requests_finished(timeout: float = 15.0) -> None:
    """Wait until the live server has answered every request it took, so that none is still writing
    while the test database is flushed or the next test begins."""
    deadline = time.monotonic() + timeout
    while any(thread.name.endswith("(process_request_thread)") for thread in threading.enumerate()):
        if time.monotonic() > deadline:
            pytest.fail(f"The live server was still answering requests {timeout:.0f} s after the browser closed.")
        time.sleep(0.02)
