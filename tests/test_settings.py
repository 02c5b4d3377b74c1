"""Settings refuse bad environment values with a message naming the variable.

Each case imports the settings in a fresh interpreter, as `manage.py` would, so the
environment of this test run (pytest's own overrides included) does not leak in.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOOD_KEY = "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz"
READ = """
import json
from django.conf import settings
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "ENGINE": settings.DATABASES["default"]["ENGINE"],
    "NAME": str(settings.DATABASES["default"]["NAME"]),
    "SECRET_KEY": settings.SECRET_KEY,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "CELERY_TASK_ALWAYS_EAGER": settings.CELERY_TASK_ALWAYS_EAGER,
    "TASK_JOB_THRESHOLD": settings.TASK_JOB_THRESHOLD,
    "CONN_MAX_AGE": settings.DATABASES["default"]["CONN_MAX_AGE"],
    "CONN_HEALTH_CHECKS": settings.DATABASES["default"]["CONN_HEALTH_CHECKS"],
    "SESSION_ENGINE": settings.SESSION_ENGINE,
    "STORAGE": settings.STORAGES["default"],
}))
"""
# Variables the settings read; cleared so only what a case gives is seen.
SETTINGS_VARS = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "DATABASE_CONN_MAX_AGE",
    "CELERY_BROKER_URL",
    "REDIS_CACHE_URL",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "TASK_JOB_THRESHOLD",
    "TIME_ZONE",
    "LOG_LEVEL",
    "PYTEST_VERSION",
    "MEDIA_STORAGE_BACKEND",
    "MEDIA_STORAGE_OPTIONS",
    # Set by the browser tests' conftest; `check --deploy` warns about it.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def load_settings(**env):
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    clean.update(env, DJANGO_SETTINGS_MODULE="taskboard.settings")
    return subprocess.run(
        [sys.executable, "-c", READ], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def assert_refused(result, message):
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr, result.stderr


def test_development_defaults_need_only_debug():
    result = load_settings(DEBUG="1")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["DEBUG"] is True
    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert values["NAME"].endswith("taskboard.sqlite3")
    assert values["SECRET_KEY"].startswith("django-insecure")
    assert values["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CELERY_TASK_ALWAYS_EAGER"] is True


def test_production_is_https_only_by_default():
    result = load_settings(DEBUG="0", SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="example.com")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True


def test_https_switches_can_be_turned_off():
    result = load_settings(
        DEBUG="0",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="example.com",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        SECURE_COOKIES="no",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SESSION_COOKIE_SECURE"] is False


def test_postgres_url_and_broker_are_read():
    result = load_settings(
        DEBUG="1",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/taskboard",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["ENGINE"] == "django.db.backends.postgresql"
    assert values["NAME"] == "taskboard"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False


PRODUCTION = {"DEBUG": "0", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "example.com"}
PG = "postgres://postgres@127.0.0.1:5432/taskboard"


def read(**env) -> dict:
    result = load_settings(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_postgresql_connections_persist_by_default_with_health_checks():
    values = read(**PRODUCTION, DATABASE_URL=PG)
    assert values["CONN_MAX_AGE"] == 600
    assert values["CONN_HEALTH_CHECKS"] is True
    assert read(**PRODUCTION, DATABASE_URL=PG, DATABASE_CONN_MAX_AGE="0")["CONN_MAX_AGE"] == 0


def test_postgresql_tests_keep_one_connection_per_request_unless_told():
    assert read(DEBUG="1", DATABASE_URL=PG, PYTEST_VERSION="9")["CONN_MAX_AGE"] == 0
    assert read(DEBUG="1", DATABASE_URL=PG, PYTEST_VERSION="9", DATABASE_CONN_MAX_AGE="60")["CONN_MAX_AGE"] == 60


def test_sqlite_keeps_one_connection_per_request():
    values = read(**PRODUCTION)
    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert values["CONN_MAX_AGE"] == 0


def test_sessions_go_through_the_cache_only_when_redis_is_configured():
    assert read(**PRODUCTION)["SESSION_ENGINE"] == "django.contrib.sessions.backends.db"
    with_redis = read(**PRODUCTION, REDIS_CACHE_URL="redis://127.0.0.1:6379/1")
    assert with_redis["SESSION_ENGINE"] == "django.contrib.sessions.backends.cached_db"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be one of 1/0, true/false"),
        ({"DEBUG": "0", "ALLOWED_HOSTS": "example.com"}, "SECRET_KEY must be set when DEBUG is off"),
        ({"DEBUG": "0", "SECRET_KEY": "short", "ALLOWED_HOSTS": "example.com"}, "SECRET_KEY must be at least 32"),
        ({"DEBUG": "0", "SECRET_KEY": GOOD_KEY}, "ALLOWED_HOSTS must be set when DEBUG is off"),
        ({"DEBUG": "1", "ALLOWED_HOSTS": " , "}, "ALLOWED_HOSTS must list at least one value"),
        ({"DEBUG": "1", "DATABASE_URL": "mysql://root@localhost/taskboard"}, "must be a sqlite:// or postgres://"),
        ({"DEBUG": "1", "DATABASE_URL": "localhost:5432/taskboard"}, "DATABASE_URL is not a database URL"),
        ({"DEBUG": "1", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432"}, "DATABASE_URL must name a database"),
        ({"DEBUG": "1", "CELERY_BROKER_URL": "127.0.0.1:6379"}, "CELERY_BROKER_URL must be a redis://"),
        ({"DEBUG": "1", "TASK_JOB_THRESHOLD": "lots"}, "TASK_JOB_THRESHOLD must be a whole number; got 'lots'"),
        ({"DEBUG": "1", "TASK_JOB_THRESHOLD": "0"}, "TASK_JOB_THRESHOLD must be at least 1; got 0"),
        ({"DEBUG": "1", "SECURE_HSTS_SECONDS": "-5"}, "SECURE_HSTS_SECONDS must be at least 0"),
        ({"DEBUG": "1", "SECURE_SSL_REDIRECT": "sometimes"}, "SECURE_SSL_REDIRECT must be one of"),
        ({"DEBUG": "1", "TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE must be an IANA time zone"),
        ({"DEBUG": "1", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of DEBUG, INFO"),
        ({"DEBUG": "1", "DATABASE_CONN_MAX_AGE": "-1"}, "DATABASE_CONN_MAX_AGE must be at least 0"),
        ({"DEBUG": "1", "MEDIA_STORAGE_OPTIONS": "bucket=items"}, "MEDIA_STORAGE_OPTIONS must be a JSON object"),
        ({"DEBUG": "1", "DATABASE_URL": PG, "DATABASE_CONN_MAX_AGE": "soon"}, "DATABASE_CONN_MAX_AGE must be a whole"),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) and len(value) == 1 else None,
)
def test_bad_values_are_refused_with_a_message(env, message):
    assert_refused(load_settings(**env), message)


def test_deploy_check_is_clean_with_production_env():
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    env.update(DEBUG="0", SECRET_KEY="x7$" + GOOD_KEY + "Q", ALLOWED_HOSTS="example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_item_files_go_to_the_file_system_unless_a_storage_backend_is_configured():
    assert read(DEBUG="1")["STORAGE"] == {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {}}
    s3 = read(
        DEBUG="1",
        MEDIA_STORAGE_BACKEND="storages.backends.s3.S3Storage",
        MEDIA_STORAGE_OPTIONS='{"bucket_name": "items", "endpoint_url": "http://127.0.0.1:9000"}',
    )["STORAGE"]
    assert s3 == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": "items", "endpoint_url": "http://127.0.0.1:9000"},
    }
