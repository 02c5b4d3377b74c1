"""The SQLite test database behaves as the embedded one does when several threads use it at once."""

import threading

import pytest
from django.db import connection, transaction

from taskboard.projects.models import Project
from tests.open_transactions import no_transaction_left_open


@pytest.mark.django_db(transaction=True)
def test_a_writer_waits_for_another_threads_transaction_instead_of_failing():
    """The live server answers on threads with connections of their own while the test reads and writes.
    A second writer must wait for the first one's lock (the database's busy timeout), as on the
    embedded SQLite file; an in-memory database shared between connections refuses at once with
    "database table is locked", at any statement, in whichever thread came second."""
    holding, failures = threading.Event(), []

    def hold_a_write_transaction():
        try:
            with transaction.atomic():
                Project.objects.create(name="First")
                holding.set()
                threading.Event().wait(0.5)
        except Exception as error:  # reported below, from the test's thread
            failures.append(error)
        finally:
            holding.set()
            connection.close()

    other = threading.Thread(target=hold_a_write_transaction)
    other.start()
    holding.wait(10)
    try:
        Project.objects.create(name="Second")
    finally:
        other.join(10)
    assert not failures
    assert sorted(Project.objects.values_list("name", flat=True)) == ["First", "Second"]


def test_a_transaction_left_open_by_a_test_body_is_named(db):
    """The check every test's body runs under fails on a block left open, where a check after the
    fixtures' teardown would not: pytest-django's rollback would close the stray block in place of
    the test case's own."""
    leaked = transaction.atomic()
    with pytest.raises(AssertionError, match="left 1 atomic block"), no_transaction_left_open():
        leaked.__enter__()
    leaked.__exit__(None, None, None)
    with no_transaction_left_open(), transaction.atomic():
        Project.objects.create(name="Closed in time")
