# Taskboard: `make run` serves the demo on http://127.0.0.1:8000/, `make test` runs the suite.
# Both work on a fresh clone with only Python 3.11+ installed: the first run makes .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# PostgreSQL and Redis for `make test-pg` (pytest-django creates and drops test_<name>).
PG_URL ?= postgres://postgres@127.0.0.1:5432/taskboard
BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: run token test test-pg test-heavy test-e2e lint format check worker install clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "Taskboard needs Python 3.11 or newer; '$(PYTHON)' is: $$($(PYTHON) --version 2>&1 || echo 'not found')."; \
	  echo "Install one, or point make at it: make $(MAKECMDGOALS) PYTHON=python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Migrate, load the demo (it prints who can sign in), then serve.
run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --no-input
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py demo
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py devserver 127.0.0.1:8000

# An API token for dtlpy, from any shell, with the settings `make run` serves with (DEBUG=1 and its
# development SECRET_KEY, unless the environment sets them): make token EMAIL=manager@example.com
EMAIL ?= manager@example.com
DAYS ?= 30
token: $(STAMP)
	@DEBUG=$${DEBUG:-1} $(BIN)/python manage.py issue_token "$(EMAIL)" --days "$(DAYS)" --note "make token"

# The whole suite on SQLite with jobs in-process; browser tests run when Chromium is installed.
# Tests that need a real Celery worker run in `make test-pg` (and in CI's PostgreSQL run).
# Two processes (TEST_PROCESSES=1 for one): each has its own test database.
TEST_PROCESSES ?= 2
test: $(STAMP)
	env -u DATABASE_URL -u CELERY_BROKER_URL $(BIN)/python -m pytest -q -rfE -n $(TEST_PROCESSES) --durations=10 -m "not celery_worker and not heavy and not load" $(PYTEST_ARGS)

# The same suite on PostgreSQL, with a real Celery worker for the job tests (needs Redis).
test-pg: $(STAMP)
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(BROKER_URL) $(BIN)/python -m pytest -q -rfE -n 2 --durations=10 --create-db -m "not heavy and not load" $(PYTEST_ARGS)

# Real faults at full size (worker kills, broker outages), then load with a PostgreSQL restart.
test-heavy: $(STAMP)
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(BROKER_URL) $(BIN)/python -m pytest -q -rfE -s --create-db -m heavy $(PYTEST_ARGS)
	$(BIN)/python -m pytest -q -rfE -s -m load tests/load $(PYTEST_ARGS)

test-e2e: $(STAMP)
	env -u DATABASE_URL -u CELERY_BROKER_URL $(BIN)/python -m pytest -q -rfE -m e2e $(PYTEST_ARGS)

# Style, the apps' layers (docs/architecture.md) and types. mypy loads the settings: DEBUG=1 lets it
# without a SECRET_KEY.
lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DEBUG=1 $(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

check: $(STAMP)
	DEBUG=1 $(BIN)/python manage.py check && DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

worker: $(STAMP)
	$(BIN)/celery -A taskboard worker -B -l info

clean:
	rm -rf $(VENV) staticfiles test-artifacts
