"""Processes a CI step started that are still running after it: print them, stop them, exit 1.

    python3 .ci/leftovers.py RUN_ID [STEP]

.ci/run exports TASKBOARD_CI_RUN=RUN_ID (and TASKBOARD_CI_STEP for each step); every process started
under it inherits them, whatever its process group or session, and keeps them when it is orphaned.
After a step, any such process (of that STEP, if given) other than this checker and its ancestors
is a leftover. The services a run may (re)start for good, PostgreSQL and Redis (the fault and load
tests restart them), are not. Processes get GRACE_SECONDS to finish exiting before they count.
"""

import contextlib
import os
import signal
import sys
import time

SERVICES = {"postgres", "redis-server"}
GRACE_SECONDS = 10


def environ(pid: int) -> dict[bytes, bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            raw = handle.read()
    except OSError:
        return {}
    return dict(entry.split(b"=", 1) for entry in raw.split(b"\0") if b"=" in entry)


def stat(pid: int) -> tuple[str, int] | None:
    """(comm, ppid), or None for a process that is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            raw = handle.read()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2 :].split()
    if rest[0] == "Z":
        return None
    return raw[raw.index("(") + 1 : raw.rindex(")")], int(rest[1])


def ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        info = stat(pid)
        if info is None:
            break
        pid = info[1]
    return pids


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()[:300]
    except OSError:
        return "?"


def leftovers(run_id: bytes, step: bytes | None) -> dict[int, str]:
    mine = ancestors()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in mine:
            continue
        pid = int(name)
        env = environ(pid)
        if env.get(b"TASKBOARD_CI_RUN") != run_id or (step is not None and env.get(b"TASKBOARD_CI_STEP") != step):
            continue
        info = stat(pid)
        if info is None or info[0] in SERVICES:
            continue
        found[pid] = f"{pid} (parent {info[1]}, step {env.get(b'TASKBOARD_CI_STEP', b'-').decode()}): {cmdline(pid)}"
    return found


def main() -> int:
    run_id = sys.argv[1].encode()
    step = sys.argv[2].encode() if len(sys.argv) > 2 else None
    deadline = time.monotonic() + GRACE_SECONDS
    found = leftovers(run_id, step)
    while found and time.monotonic() < deadline:
        time.sleep(0.5)
        found = leftovers(run_id, step)
    if not found:
        return 0
    print(f"{len(found)} process(es) outlived the step that started them:")
    for line in found.values():
        print(f"  {line}")
    # Stop them, so that they do not weigh on what runs next (the load step measures CPU).
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in leftovers(run_id, step):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(3)
    return 1


if __name__ == "__main__":
    sys.exit(main())
