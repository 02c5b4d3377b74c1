"""Many annotators pulling from one queue at once, each thread on its own database connection.
Used by test_concurrency.py, on whichever database the run uses."""

from __future__ import annotations

import threading
import time
from collections import Counter

from django.db import connection

from taskboard.accounts.models import User
from taskboard.annotation import pulling
from taskboard.annotation.models import Assignment, AssignmentKind, ChangeKind, HoldingChange, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.datasets.models import Dataset, Label, Recipe
from taskboard.projects.models import Membership, Project, Role
from taskboard.work import flow
from tests.factories import create_task, in_days, make_items


def build(*, users: int, items: int, batch_size: int = 3, max_batch_workload: int = 5):
    project = Project.objects.create(name="Concurrency")
    manager = User.objects.create_user("boss@example.com", "pw")
    Membership.objects.create(project=project, user=manager, role=Role.MANAGER)
    people = [User.objects.create_user(f"puller{i}@example.com", "pw") for i in range(users)]
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.ANNOTATOR) for u in people)
    dataset = Dataset.objects.create(project=project, name="pile")
    recipe = Recipe.objects.create(dataset=dataset, name="default", is_default=True)
    Label.objects.create(recipe=recipe, name="thing")
    make_items(dataset, {"/pile": items})
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="Race",
        selection=Selection(mode="all"),
        assignees=people,
        due_at=in_days(3),
        allocation="pulling",
        batch_size=batch_size,
        max_batch_workload=max_batch_workload,
    )
    return task, people


def run(task, people, *, time_limit: float = 120.0) -> dict:
    """Every annotator completes what they hold (refills arrive through the receiver) and pulls
    for more until the queue is empty. Returns what each one saw and what the database holds."""
    barrier = threading.Barrier(len(people))
    seen: dict[int, set[int]] = {u.pk: set() for u in people}
    errors: list[str] = []
    deadline = time.monotonic() + time_limit

    def queue_left() -> int:
        return TaskItem.objects.filter(task=task, in_queue=True).count()

    def worker(user):
        try:
            barrier.wait()
            while time.monotonic() < deadline:
                held = list(
                    TaskItem.objects.filter(task=task, assignment__assignee=user, status__isnull=True).select_related(
                        "item"
                    )
                )
                seen[user.pk].update(t.item_id for t in held)
                if held:
                    for t in held:
                        flow.item_status_set(task=task, item=t.item, status="completed", by=user)
                    continue
                if pulling.pulling_claim(task=task, user=user) == 0 and queue_left() == 0:
                    return
        except Exception as error:  # noqa: BLE001 - reported, the test fails on any
            errors.append(f"{user.email}: {type(error).__name__}: {error}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(u,)) for u in people]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    owners = Counter(item for items in seen.values() for item in items)
    claims = Counter(HoldingChange.objects.filter(task=task, kind=ChangeKind.CLAIM).values_list("item_id", flat=True))
    work = Assignment.objects.filter(task=task, kind=AssignmentKind.WORK)
    rows = TaskItem.objects.filter(task=task)
    return {
        "vendor": connection.vendor,
        "people": len(people),
        "items": rows.count(),
        "completed": rows.filter(status="completed").count(),
        "queue_left": queue_left(),
        "held_by_two": sum(1 for n in owners.values() if n > 1),
        "claimed_twice": sum(1 for n in claims.values() if n > 1),
        "claims": sum(claims.values()),
        "counted": sum(a.item_count for a in work),
        "errors": errors[:10],
        "seconds": round(elapsed, 2),
    }
