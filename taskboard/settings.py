"""Taskboard settings. Everything that differs between machines comes from the environment."""

import os
import zoneinfo
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from taskboard.env import env_bool, env_choice, env_int, env_json_object, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
# pytest sets PYTEST_VERSION for the run; tests get the overrides at the end of this file.
TESTING = "PYTEST_VERSION" in os.environ

if TESTING:
    os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "x" * 32)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. On a development checkout, run commands with the "
            "settings `make run` uses: DEBUG=1 (for an API token, `make token EMAIL=...`)."
        )
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"
elif len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    "template_partials.apps.SimpleAppConfig",
    "taskboard.accounts",
    "taskboard.projects",
    "taskboard.notifications",
    "taskboard.datasets",
    "taskboard.discussion",
    "taskboard.jobs",
    "taskboard.annotation",
    "taskboard.quality",
    "taskboard.work",
    "taskboard.dashboards",
    "taskboard.pipelines",
    "taskboard.api",
    "taskboard.demo",
]

MIDDLEWARE = [
    # Outermost: the API's errors are JSON with a request id, whichever layer answered them.
    "taskboard.api.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "taskboard.urls"
WSGI_APPLICATION = "taskboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "taskboard.notifications.context_processors.inbox",
            ],
            # Parse each template once per process, as Django does by default when no loaders are listed:
            # the partials loader wraps the loaders itself, so the cache must be named. runserver's
            # autoreloader still resets it when a template changes.
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]


def _database(url: str) -> dj_database_url.DBConfig:
    try:
        # Health checks: a persistent connection that the database dropped, as a PostgreSQL restart
        # does, is replaced before the request uses it instead of failing it with a 500.
        config = dj_database_url.parse(url, conn_health_checks=True)
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL ({error}); got {url!r}.") from None
    if config["ENGINE"] not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
        raise ImproperlyConfigured(f"DATABASE_URL must be a sqlite:// or postgres:// URL; got {url!r}.")
    if not config["NAME"]:
        raise ImproperlyConfigured(f"DATABASE_URL must name a database; got {url!r}.")
    if config["ENGINE"] == "django.db.backends.postgresql":
        _postgres_connections(config)
    else:
        config["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
    return config


def _postgres_connections(config: dj_database_url.DBConfig) -> None:
    """Each process keeps its connection for DATABASE_CONN_MAX_AGE seconds, checked before each request's
    first query (the health checks above). A new connection per request costs PostgreSQL a backend
    fork, the authentication and cold catalog caches, and cost the application a fifth of its CPU
    (one sync worker, one client, a work item and "My work" in turn: 27.7 ms against 22.5 ms kept).
    Django's psycopg pool (OPTIONS "pool") measured no better in the same runs: 34.0 ms of application
    and database CPU per request against 28.1 ms (medians of three interleaved rounds), since it
    checks the connection out, checks it and returns it on every request, and it needs a dependency
    and threads of its own in each process. gunicorn.conf.py serves one request at a time per worker,
    so the server holds one connection per worker, plus one per Celery worker process. Ten minutes
    bound how long a backend's caches grow; reconnecting that rarely costs nothing measurable."""
    config["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 600, minimum=0)
    if TESTING and "DATABASE_CONN_MAX_AGE" not in os.environ:
        # The suite creates and drops its test database under the connections; it keeps one per request.
        config["CONN_MAX_AGE"] = 0


DATABASES = {"default": _database(env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'taskboard.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers (progress pages) run while a job writes; the timeout
    # makes concurrent writers wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": env_str("SQLITE_TEST_NAME") or None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# The first signs people in (taskboard/accounts/backends.py); Django's own stays listed so that sessions
# signed in before it came keep working (a session names the backend that signed it in).
AUTHENTICATION_BACKENDS = [
    "taskboard.accounts.backends.AccountBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboards:home"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"TIME_ZONE must be an IANA time zone such as Europe/Paris; got {TIME_ZONE!r}."
    ) from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or BASE_DIR / "media")
# Stored files are sent only by views that check who may see them (datasets/files.py); behind nginx, an
# `internal` location mapped to MEDIA_ROOT named here makes nginx send the bytes (X-Accel-Redirect).
MEDIA_ACCEL_REDIRECT = env_str("MEDIA_ACCEL_REDIRECT") or ""
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Where item files and their thumbnails are stored, through Django's storage API: the file system under
# MEDIA_ROOT by default, or any storage backend, e.g. an S3-compatible store with django-storages
# installed: MEDIA_STORAGE_BACKEND=storages.backends.s3.S3Storage and MEDIA_STORAGE_OPTIONS as JSON
# (`{"bucket_name": "items", "endpoint_url": "https://s3.example.com"}`).
STORAGES = {
    "default": {
        "BACKEND": env_str("MEDIA_STORAGE_BACKEND") or "django.core.files.storage.FileSystemStorage",
        "OPTIONS": env_json_object("MEDIA_STORAGE_OPTIONS"),
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ITEM_UPLOAD_MAX_BYTES = env_int("ITEM_UPLOAD_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
# A manifest (docs/imports.md): at most this many rows, and this many bytes (200 bytes a row at the
# row cap; a row with a URL and a little metadata takes about 120). Above MANIFEST_JOB_THRESHOLD rows
# it is imported by a job with a progress bar, read from a copy in storage.
MANIFEST_MAX_ROWS = env_int("MANIFEST_MAX_ROWS", 10_000_000, minimum=1)
MANIFEST_MAX_BYTES = env_int("MANIFEST_MAX_BYTES", 2 * 1024**3, minimum=1024)
MANIFEST_JOB_THRESHOLD = env_int("MANIFEST_JOB_THRESHOLD", 20_000, minimum=1)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Production is HTTPS-only by default; each switch can be turned off for a site behind plain HTTP.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# Behind a proxy that terminates TLS, Django learns the scheme from X-Forwarded-Proto;
# trusting that header without such a proxy would let clients fake HTTPS.
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if not env_str("REDIS_CACHE_URL")
    else {"BACKEND": "taskboard.cache.SharedClientRedisCache", "LOCATION": env_str("REDIS_CACHE_URL")}
}
if env_str("REDIS_CACHE_URL"):
    # A request reads its session from Redis instead of the database; a change (signing in, the task
    # wizard's steps) is written to both. Not the cache alone: Redis may run without persistence or
    # evict keys, and that must not sign a team out or lose a wizard half-way. Not without Redis: each
    # process's own memory would keep serving a session another process changed or ended.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# Celery: with no broker, jobs run in-process through the same task functions.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or None
if CELERY_BROKER_URL and urlsplit(CELERY_BROKER_URL).scheme not in ("redis", "rediss", "amqp", "amqps", "memory"):
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL must be a redis://, rediss:// or amqp:// URL; got {CELERY_BROKER_URL!r}."
    )
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
# The queue jobs are sent to and workers listen on; deployments sharing a broker name their own.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE") or "celery"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request that enqueues while the broker is down answers within a few seconds ("queued")
# instead of hanging; the job is handed over by the recovery below once the broker is back.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}

# Selections at or above this many items are created by a job with a progress bar.
TASK_JOB_THRESHOLD = env_int("TASK_JOB_THRESHOLD", 5000, minimum=1)
# A bulk status or bulk priority that would change at least this many rows runs as a job.
BULK_JOB_THRESHOLD = env_int("BULK_JOB_THRESHOLD", 20_000, minimum=1)
# A job whose worker stopped reporting for this long is retried or failed.
JOB_STALE_AFTER_SECONDS = env_int("JOB_STALE_AFTER_SECONDS", 600, minimum=10)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3, minimum=1)
# Running jobs beat this often on PostgreSQL, well inside the stale limit.
JOB_HEARTBEAT_SECONDS = max(1, min(30, JOB_STALE_AFTER_SECONDS // 5))
# Celery beat (`celery -A taskboard beat`, or a worker started with -B) runs the recovery this often.
JOB_RECOVER_EVERY_SECONDS = env_int("JOB_RECOVER_EVERY_SECONDS", 60, minimum=1)
LEASE_SWEEP_EVERY_SECONDS = env_int("LEASE_SWEEP_EVERY_SECONDS", 30, minimum=1)
# Stuck work (distributed items untouched past their task's limit) is looked for this often.
STUCK_SWEEP_EVERY_SECONDS = env_int("STUCK_SWEEP_EVERY_SECONDS", 900, minimum=10)
CELERY_BEAT_SCHEDULE = {
    "recover-jobs": {
        "task": "taskboard.jobs.tasks.recover_jobs",
        "schedule": JOB_RECOVER_EVERY_SECONDS,
        "options": {"expires": JOB_RECOVER_EVERY_SECONDS},
    },
    # Tasks due within 24 hours and overdue ones: their people are told once per due date.
    "remind-deadlines": {
        "task": "taskboard.annotation.tasks.remind_deadlines",
        "schedule": env_int("DEADLINE_REMIND_EVERY_SECONDS", 900, minimum=10),
    },
    "sweep-stuck-work": {
        "task": "taskboard.work.tasks.sweep_stuck_work",
        "schedule": STUCK_SWEEP_EVERY_SECONDS,
        "options": {"expires": STUCK_SWEEP_EVERY_SECONDS},
    },
    # Expired pulled batches go back to the queue within this long even where nobody claims.
    "expire-leases": {
        "task": "taskboard.annotation.tasks.expire_leases",
        "schedule": LEASE_SWEEP_EVERY_SECONDS,
        "options": {"expires": LEASE_SWEEP_EVERY_SECONDS},
    },
}

# Email (notifications): the console in development, SMTP (EMAIL_HOST…) or any backend by name
# otherwise, e.g. EMAIL_BACKEND=anymail.backends.mailgun.EmailBackend with django-anymail installed and
# its settings as ANYMAIL_<NAME> variables (ANYMAIL_MAILGUN_API_KEY → ANYMAIL["MAILGUN_API_KEY"]).
EMAIL_BACKEND = env_str("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "taskboard@localhost")
ANYMAIL = {name[len("ANYMAIL_") :]: value for name, value in os.environ.items() if name.startswith("ANYMAIL_")}
# Where the links in emails point.
SITE_URL = env_str("SITE_URL", "http://localhost:8000")
# How a person gets each kind of event by email until they choose: immediate, digest or never.
NOTIFY_EMAIL_DEFAULT = env_choice("NOTIFY_EMAIL_DEFAULT", "immediate", ["immediate", "digest", "never"])
EMAIL_MAX_TRIES = env_int("EMAIL_MAX_TRIES", 5, minimum=1)
CELERY_BEAT_SCHEDULE["send-digests"] = {
    "task": "taskboard.notifications.tasks.send_digests",
    # Hourly: the first run after midnight sends yesterday's digests, the others find them sent.
    "schedule": 3600,
}

# Webhooks (notifications): the hosts they may be sent to ("*" any, ".example.com" a domain and its
# subdomains); internal addresses (private, loopback, link-local) only with the switch on.
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", ["*"])
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
WEBHOOK_MAX_TRIES = env_int("WEBHOOK_MAX_TRIES", 6, minimum=1)

API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 30, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {
        "handlers": ["console"],
        "level": env_choice("LOG_LEVEL", "WARNING", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]),
    },
}

if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
    # The test client and live_server speak plain HTTP, whatever DEBUG says.
    SECURE_SSL_REDIRECT = False
    SECURE_HSTS_SECONDS = 0
    MEDIA_ROOT = Path(env_str("TEST_MEDIA_ROOT") or "/tmp/taskboard-test-media")
    # Serve static files from the apps' folders, as runserver does: tests never run collectstatic.
    WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS = True
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

# Trust (issue 8): an enforcing Content-Security-Policy on every response and login throttling
# (LOGIN_MAX_FAILURES per email+address, LOGIN_MAX_FAILURES_PER_IP per address, per LOGIN_WINDOW_SECONDS,
# counted in CACHES["default"]: set REDIS_CACHE_URL so that every gunicorn worker shares the counts).
MIDDLEWARE += [
    "taskboard.middleware.ContentSecurityPolicyMiddleware",
    "taskboard.middleware.LoginThrottleMiddleware",
    "taskboard.middleware.HtmxSignInMiddleware",
]
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_MAX_FAILURES_PER_IP = env_int("LOGIN_MAX_FAILURES_PER_IP", 50, minimum=1)
# One account guessed from many addresses (issue 16): its own count, whatever the address.
LOGIN_MAX_FAILURES_PER_ACCOUNT = env_int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 20, minimum=1)
LOGIN_WINDOW_SECONDS = env_int("LOGIN_WINDOW_SECONDS", 15 * 60, minimum=1)
if TESTING:
    # The whole suite signs in from 127.0.0.1; tests of the per-address limit set their own.
    LOGIN_MAX_FAILURES_PER_IP = 100_000
