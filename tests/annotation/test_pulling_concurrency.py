"""Twenty people pulling at once from one queue never get the same item (PostgreSQL, real threads)."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from taskboard.annotation import pulling
from taskboard.annotation.models import Assignment, AssignmentKind, HoldingChange, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.projects.models import Role
from taskboard.work import flow
from taskboard.work.services import pulling_queue_size
from tests.annotation.conftest import assert_counters
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

PEOPLE = 20
ROUNDS = 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_claimers_never_get_the_same_item():
    if connection.vendor != "postgresql":
        pytest.skip("row locks with SKIP LOCKED are PostgreSQL's")
    project = ProjectFactory(name="Race")
    manager = UserFactory(email="m@example.com")
    MembershipFactory(project=project, user=manager, role=Role.MANAGER)
    people = [UserFactory(email=f"w{i}@example.com") for i in range(PEOPLE)]
    for p in people:
        MembershipFactory(project=project, user=p, role=Role.ANNOTATOR)
    dataset = DatasetFactory(project=project, name="d")
    RecipeFactory(dataset=dataset)
    make_items(dataset, {"/q": 400})
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="race",
        due_at=in_days(1),
        selection=Selection(mode="all"),
        assignees=people,
        allocation="pulling",
        batch_size=3,
        max_batch_workload=6,
    )
    barrier = threading.Barrier(PEOPLE)
    errors = []

    def worker(user):
        try:
            barrier.wait()
            for _ in range(ROUNDS):
                pulling.pulling_claim(task=task, user=user)
                undone = TaskItem.objects.filter(task=task, assignment__assignee=user, status__isnull=True)
                for row in list(undone.select_related("item")):
                    flow.item_status_set(task=task, item=row.item, status="completed", by=user)
        except Exception as exc:  # surfaced below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    claims = list(HoldingChange.objects.filter(task=task, kind="claim").values_list("item_id", "to_assignment_id"))
    per_item = Counter(item_id for item_id, _ in claims)
    assert per_item and max(per_item.values()) == 1, "an item was claimed twice"
    holder = dict(TaskItem.objects.filter(task=task).values_list("item_id", "assignment_id"))
    assert all(holder[item_id] == assignment_id for item_id, assignment_id in claims)
    assert pulling_queue_size(task) == 400 - len(claims)
    assert_counters(task)
    # Nobody ever held more than max_batch_workload undone items.
    for a in Assignment.objects.filter(task=task, kind=AssignmentKind.WORK):
        assert TaskItem.objects.filter(assignment=a, status__isnull=True).count() <= 6
