"""The drift check reads one snapshot: with people completing items and pulling batches at the same
time, it never reports drift that is not there, and it never makes them wait (PostgreSQL, threads)."""

import threading

import pytest
from django.db import connection, connections

from taskboard.annotation import pulling
from taskboard.annotation.models import TaskItem
from taskboard.annotation.selection import Selection
from taskboard.dashboards import counters
from taskboard.projects.models import Role
from taskboard.work import flow
from tests.factories import (
    DatasetFactory,
    MembershipFactory,
    ProjectFactory,
    RecipeFactory,
    UserFactory,
    create_task,
    in_days,
    make_items,
)

PEOPLE = 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_drift_check_during_live_work_finds_nothing():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    project = ProjectFactory(name="Live")
    manager = UserFactory(email="m@example.com")
    MembershipFactory(project=project, user=manager, role=Role.MANAGER)
    people = [UserFactory(email=f"w{i}@example.com") for i in range(PEOPLE)]
    for p in people:
        MembershipFactory(project=project, user=p, role=Role.ANNOTATOR)
    dataset = DatasetFactory(project=project, name="d")
    RecipeFactory(dataset=dataset)
    make_items(dataset, {"/a": 120, "/b": 120})
    spread = create_task(
        dataset=dataset,
        created_by=manager,
        name="spread",
        due_at=in_days(1),
        selection=Selection(mode="folder", folder="/a"),
        assignees=people,
    )
    pulled = create_task(
        dataset=dataset,
        created_by=manager,
        name="pulled",
        due_at=in_days(1),
        selection=Selection(mode="folder", folder="/b"),
        assignees=people,
        allocation="pulling",
        batch_size=3,
        max_batch_workload=6,
    )
    stop = threading.Event()
    errors, checks = [], []

    def worker(user):
        try:
            for task in (spread, pulled):
                if task.is_pulling:
                    pulling.pulling_claim(task=task, user=user)
                rows = TaskItem.objects.filter(task=task, assignment__assignee=user, status__isnull=True)
                for n, row in enumerate(list(rows.select_related("item"))[:25]):
                    status = "discard" if n % 5 == 0 else "completed"
                    flow.item_status_set(task=task, item=row.item, status=status, by=user)
                    if n % 7 == 0:
                        flow.item_status_clear(task=task, item=row.item, by=user)
        except Exception as exc:  # surfaced below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    def checker():
        try:
            while not stop.is_set():
                checks.append(counters.find_drift())
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connections.close_all()

    watcher = threading.Thread(target=checker)
    watcher.start()
    threads = [threading.Thread(target=worker, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop.set()
    watcher.join(timeout=60)
    assert not errors, errors[:3]
    assert len(checks) >= 2
    assert all(drift == [] for drift in checks), next(d for d in checks if d)
    assert counters.find_drift() == []
    assert TaskItem.objects.filter(status__isnull=False).count() > 50
