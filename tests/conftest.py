"""Personas and a project to work in: alice manages, bob and carol annotate, rita reviews;
mallory manages another project and must see nothing of this one."""

import pytest
from django.conf import settings
from django.core.cache import cache

from taskboard.projects.models import Role
from tests.factories import (
    DatasetFactory,
    LabelFactory,
    MembershipFactory,
    ProjectFactory,
    RecipeFactory,
    UserFactory,
)
from tests.live import requests_finished
from tests.open_transactions import no_transaction_left_open


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite the test database is a file in this run's temporary directory (one per test process),
    as the embedded database is. An in-memory one shared between the test's connection and the live
    server's refuses a second writer at once ("database table is locked", the busy timeout does not
    apply), at any statement; a file lets it wait for the lock."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and not database.get("TEST", {}).get("NAME"):
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache: counts and throttles cached by one test never reach the
    next (row ids are reused after a rollback)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def live_server_answered(request):
    """A test that drove the live server leaves only once the server has answered it (browser tests
    open contexts of their own, besides `browser_page`, and close them as they go)."""
    yield
    if "live_server" in request.fixturenames:
        requests_finished()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """The test's body, checked for a transaction it left open (`tests/open_transactions.py`)."""
    with no_transaction_left_open():
        return (yield)


@pytest.fixture
def project(db):
    return ProjectFactory(name="Street")


@pytest.fixture
def owner(project):
    user = UserFactory(email="olivia@example.com")
    MembershipFactory(project=project, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def manager(project):
    user = UserFactory(email="alice@example.com")
    MembershipFactory(project=project, user=user, role=Role.MANAGER)
    return user


@pytest.fixture
def annotator(project):
    user = UserFactory(email="bob@example.com")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def annotator2(project):
    user = UserFactory(email="carol@example.com")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def annotator3(project):
    user = UserFactory(email="dave@example.com")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


@pytest.fixture
def reviewer(project):
    user = UserFactory(email="rita@example.com")
    MembershipFactory(project=project, user=user, role=Role.REVIEWER)
    return user


@pytest.fixture
def other_manager(db):
    other = ProjectFactory(name="Elsewhere")
    user = UserFactory(email="mallory@example.com")
    MembershipFactory(project=other, user=user, role=Role.MANAGER)
    return user


@pytest.fixture
def dataset(project):
    return DatasetFactory(project=project, name="street-scenes")


@pytest.fixture
def recipe(dataset):
    recipe = RecipeFactory(dataset=dataset)
    LabelFactory(recipe=recipe, name="car", color="#1f77b4", position=0)
    LabelFactory(recipe=recipe, name="person", color="#d62728", position=1)
    return recipe


from tests.celery_worker import *  # noqa


# Tests that measure something print `FIGURE name key=value …`; pytest captures their output, so
# the lines are gathered here and printed in the summary of every run, CI's included.
_figures: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _figures.extend(line for line in report.capstdout.splitlines() if line.startswith("FIGURE "))


def pytest_terminal_summary(terminalreporter):
    if _figures:
        terminalreporter.section("figures")
        for line in _figures:
            terminalreporter.write_line(line)
