"""The SQLite test database behaves as the embedded one does when several threads use it at once."""

import threading

import pytest
from django.db import connection, transaction

from taskboard.projects.models import Project


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
