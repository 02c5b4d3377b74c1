"""How many people the load test runs: LOAD_USERS in all (annotators and the two managers), or
LOAD_ANNOTATORS; 52 (50 annotators) by default. Read by the seed (its own process) and the tests."""

import os

MANAGERS = 2
DEFAULT_ANNOTATORS = 50


def annotators() -> int:
    users = os.environ.get("LOAD_USERS")
    if users:
        count = int(users) - MANAGERS
        if count < 1:
            raise SystemExit(f"LOAD_USERS counts the {MANAGERS} managers too: at least {MANAGERS + 1}; got {users}")
        return count
    return int(os.environ.get("LOAD_ANNOTATORS", str(DEFAULT_ANNOTATORS)))
