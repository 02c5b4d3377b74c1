#!/usr/bin/env bash
# dtlpy conformance: the seed's own Dataloop script, run with the real SDK against a fresh Taskboard.
#
#   .ci/conformance.sh            # from the repository root
#
# Makes .ci/venv-dtlpy (git-ignored) with dtlpy==1.126.5 (kept out of requirements.txt: it is large),
# starts Taskboard on 127.0.0.1:<free port> with a new SQLite database and `manage.py demo` (and a
# TASK_JOB_THRESHOLD low enough that the seed's whole-dataset tasks are made by jobs, whose commands
# dtlpy polls), writes a dtlpy cookie holding a token of manager@example.com (the assignees' tokens go
# to the status steps: only the holder of an item sets its status), runs the seed script (the demo's
# names put in) and the next ring of API calls through dtlpy, then checks Taskboard's database and
# that dtlpy polled GET /commands/{id}. Prints "N passed, M failed" and exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
DTLPY_VENV="$ROOT/.ci/venv-dtlpy"
DTLPY_VERSION="1.126.5"
SEED_FILE="${SEED_FILE:-$ROOT/../shared/seed/creating-tasks.txt}"

if [ ! -f "$SEED_FILE" ]; then
    echo "conformance: seed file not found: $SEED_FILE" >&2
    exit 2
fi

if ! "$DTLPY_VENV/bin/python" -c "import dtlpy, sys; sys.exit(dtlpy.__version__ != '$DTLPY_VERSION')" 2>/dev/null; then
    echo "conformance: installing dtlpy==$DTLPY_VERSION into $DTLPY_VENV (a few minutes, once)"
    python3 -m venv "$DTLPY_VENV"
    "$DTLPY_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "dtlpy==$DTLPY_VERSION"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tb-conformance.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "${KEEP_WORK:-0}" = "1" ]; then echo "conformance: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

export DEBUG=1
# CONFORMANCE_DATABASE_URL=postgres://… runs it on PostgreSQL (the database is dropped and made anew).
export DATABASE_URL="${CONFORMANCE_DATABASE_URL:-sqlite:///$WORK/db.sqlite3}"
# No SECRET_KEY: the server runs with `make run`'s settings (DEBUG=1, its development key), so the
# token `make token` prints in a new shell (the README's onboarding, checked below) is valid for it.
unset SECRET_KEY || true
export ALLOWED_HOSTS="127.0.0.1,localhost"
export MEDIA_ROOT="$WORK/media"
export SECURE_COOKIES=0 SECURE_SSL_REDIRECT=0
export CELERY_BROKER_URL=""
unset PYTEST_VERSION || true

echo "conformance: fresh database and the demo"
if [ -n "${CONFORMANCE_DATABASE_URL:-}" ]; then
    "$PYTHON" - <<'PY'
import os
import psycopg
from urllib.parse import urlsplit

url = urlsplit(os.environ["DATABASE_URL"])
name = url.path.lstrip("/")
if not name.startswith(("tb_", "taskboard_")):
    raise SystemExit(f"refusing to recreate database {name!r}: use a name starting with tb_ or taskboard_")
admin = url._replace(path="/postgres").geturl()
with psycopg.connect(admin, autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.execute(f'CREATE DATABASE "{name}"')
PY
fi
"$PYTHON" manage.py migrate --no-input >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log"; exit 1; }
"$PYTHON" manage.py demo >"$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log"; exit 1; }

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# The demo's 2,000 items stay under the default 5,000: lower it for the server only, so the seed's
# whole-dataset tasks are made by jobs (command "created", then "success") and dtlpy waits on them,
# while its 1,333-item task is still made in the request.
export TB_TASK_JOB_THRESHOLD="${CONFORMANCE_TASK_JOB_THRESHOLD:-1500}"
TASK_JOB_THRESHOLD="$TB_TASK_JOB_THRESHOLD" "$PYTHON" manage.py runserver "127.0.0.1:$PORT" --noreload >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    if "$PYTHON" -c "import urllib.request, sys
try:
    urllib.request.urlopen('http://127.0.0.1:$PORT/api/v1/users/me', timeout=1)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 401 else 1)
except Exception:
    sys.exit(1)" 2>/dev/null; then break; fi
    sleep 0.2
done

export TB_URL="http://127.0.0.1:$PORT"
# The README's onboarding from a new shell: nothing of this one's environment but PATH, HOME and where the
# database is (`make run` would use the checkout's own). `-o` keeps make from reinstalling .venv.
export TB_MAKE_TOKEN="$(cd "$ROOT" && env -i PATH="$PATH" HOME="${HOME:-/root}" DATABASE_URL="$DATABASE_URL" \
    make -s -o .venv/.installed token EMAIL=manager@example.com 2>"$WORK/make-token.stderr" || true)"
export TB_TOKEN="$("$PYTHON" manage.py issue_token manager@example.com --days 1 --note conformance)"
# Only the assignee holding an item sets or clears its status: the status steps run as them.
TB_TOKENS="{"
for who in annotator1 annotator2 annotator3 reviewer; do
    token="$("$PYTHON" manage.py issue_token "$who@example.com" --days 1 --note conformance)"
    TB_TOKENS="$TB_TOKENS\"$who@example.com\": \"$token\", "
done
export TB_TOKENS="${TB_TOKENS%, }}"
export TB_PREP="$(CONFORMANCE_MODE=prepare "$PYTHON" manage.py shell --no-imports < .ci/conformance_state.py)"
export TB_OUT="$WORK/made.json"
export TB_PYTHON="$PYTHON" TB_ROOT="$ROOT"  # for `manage.py demo --arrivals` during the seed
export TB_PASSWORD="${TB_PASSWORD:-demo}"
export DATALOOP_PATH="$WORK/dataloop"
export SEED_FILE
export RUN_TAG="$(date +%s)"
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
echo "conformance: server $TB_URL, demo names $TB_PREP"

set +e
"$DTLPY_VENV/bin/python" .ci/dtlpy_seed.py 2>"$WORK/dtlpy.stderr" | tee "$WORK/dtlpy.log"
SDK_STATUS=${PIPESTATUS[0]}
# Beyond the seed: the README's onboarding, then Dataloop's behaviour issue by issue (.ci/dtlpy_*.py).
for script in .ci/dtlpy_onboarding.py .ci/dtlpy_fidelity.py; do
    [ -f "$script" ] || continue
    echo "--- $script"
    "$DTLPY_VENV/bin/python" "$script" 2>>"$WORK/dtlpy.stderr" | tee -a "$WORK/dtlpy.log"
    status=${PIPESTATUS[0]}
    [ "$status" = 0 ] || SDK_STATUS=$status
done
CONFORMANCE_MODE=check "$PYTHON" manage.py shell --no-imports < .ci/conformance_state.py | tee "$WORK/state.log"
STATE_STATUS=${PIPESTATUS[0]}
set -e

if [ "$SDK_STATUS" != 0 ] || [ "$STATE_STATUS" != 0 ]; then
    echo "--- dtlpy stderr (last 60 lines)"; tail -n 60 "$WORK/dtlpy.stderr"
    echo "--- server log (last 40 lines)"; tail -n 40 "$WORK/server.log"
    if [ -s "$WORK/make-token.stderr" ]; then echo "--- make token stderr"; cat "$WORK/make-token.stderr"; fi
fi
if grep -q '" 50[0-9] ' "$WORK/server.log"; then
    echo "FAIL server answered 5xx:"; grep '" 50[0-9] ' "$WORK/server.log" | head
    SERVER_5XX=1
else
    SERVER_5XX=0
fi

# Every job-made task's command answered "created" first; dtlpy must have polled each until "success".
JOB_TASKS=$(sed -n 's/^INFO job-made tasks: \([0-9]*\)$/\1/p' "$WORK/state.log")
POLLS=$(grep -c '"GET /api/v1/commands/[0-9a-f]* HTTP' "$WORK/server.log" || true)
if [ -n "$JOB_TASKS" ] && [ "$JOB_TASKS" -gt 0 ] && [ "$POLLS" -ge "$JOB_TASKS" ]; then
    echo "PASS server: dtlpy polled GET /commands/{id} $POLLS times for $JOB_TASKS job-made tasks" | tee -a "$WORK/state.log"
else
    echo "FAIL server: dtlpy polled GET /commands/{id} ${POLLS:-0} times for ${JOB_TASKS:-0} job-made tasks" | tee -a "$WORK/state.log"
fi

PASSED=$(cat "$WORK/dtlpy.log" "$WORK/state.log" | grep -c '^PASS' || true)
FAILED=$(cat "$WORK/dtlpy.log" "$WORK/state.log" | grep -c '^FAIL' || true)
FAILED=$((FAILED + SERVER_5XX))
echo "conformance: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ] && [ "$SDK_STATUS" = 0 ] && [ "$STATE_STATUS" = 0 ]
