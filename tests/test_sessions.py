"""Sessions through the cache (settings.py picks cached_db when REDIS_CACHE_URL is set; these tests
use the in-process cache in its place): a signed-in page reads its session without a query, and a
session written or ended is written or ended in the database too."""

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

CACHED_DB = "django.contrib.sessions.backends.cached_db"


@pytest.fixture
def cached_sessions(settings):
    settings.SESSION_ENGINE = CACHED_DB
    cache.clear()
    yield
    cache.clear()


def _session_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if Session._meta.db_table in q["sql"]]


def test_a_signed_in_request_reads_its_session_from_the_cache(cached_sessions, client, annotator):
    client.force_login(annotator)
    client.get("/work/")  # the first request after signing in
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/work/")
    assert response.status_code == 200
    assert _session_queries(queries.captured_queries) == []


def test_without_the_cache_each_request_reads_the_session_table(settings, client, annotator):
    # What cached_db saves: the database engine reads the session on every request.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    client.force_login(annotator)
    with CaptureQueriesContext(connection) as queries:
        client.get("/work/")
    assert len(_session_queries(queries.captured_queries)) == 1


def test_signing_in_writes_the_session_to_the_database_and_signing_out_removes_it(cached_sessions, client, annotator):
    client.force_login(annotator)
    key = client.cookies["sessionid"].value
    assert Session.objects.filter(session_key=key).exists()  # it outlives a cache that restarts empty
    cache.clear()
    assert client.get("/work/").status_code == 200  # read back from the database
    client.post("/accounts/logout/")
    assert not Session.objects.filter(session_key=key).exists()
    response = client.get("/work/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
