"""Claim leases: a pulled batch is held until its lease expires; work renews it; expired or released
batches go back to the queue (their done items stay), on both databases."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from taskboard.annotation import leases
from taskboard.annotation.models import Assignment, HoldingChange, Lease, TaskItem
from taskboard.annotation.moves import assignment_reassign
from taskboard.annotation.pulling import pulling_claim
from taskboard.annotation.selection import Selection
from taskboard.annotation.tasks import expire_leases
from taskboard.work import flow, services
from tests.annotation.conftest import assert_counters
from tests.factories import create_task, in_days, make_items


@pytest.fixture
def pulling_task(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/q": 30})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="pull",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
        due_at=in_days(3),
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
    )


def held(task, user):
    return TaskItem.objects.filter(task=task, assignment__assignee=user, status__isnull=True).count()


def age(task, user, seconds):
    """Time passes for `user`'s running leases: they expire `seconds` ago."""
    Lease.objects.filter(task=task, holder=user, ended_at__isnull=True).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=seconds)
    )


def test_a_claim_is_a_lease_of_the_tasks_length(pulling_task, annotator):
    before = timezone.now()
    assert held(pulling_task, annotator) == 3
    lease = Lease.objects.get(task=pulling_task, holder=annotator)
    assert lease.items == 3 and lease.ended_at is None
    expected = before + datetime.timedelta(seconds=pulling_task.lease_seconds)
    assert abs((lease.expires_at - expected).total_seconds()) < 5
    assert pulling_task.lease_seconds == 3600
    assert TaskItem.objects.filter(lease=lease).count() == 3


def test_an_expired_batch_goes_back_but_its_done_items_stay(pulling_task, annotator, annotator2):
    mine = list(TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator).order_by("rank"))
    flow.item_status_set(task=pulling_task, item=mine[0].item, status="completed", by=annotator)
    # The status brought the refill: a second batch of 3, a second lease.
    assert Lease.objects.filter(task=pulling_task, holder=annotator).count() == 2
    age(pulling_task, annotator, 5)
    assert leases.leases_expire() == 5
    assert list(TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator)) == [mine[0]]
    assert TaskItem.objects.filter(pk__in=[r.pk for r in mine[1:]], in_queue=True, lease=None).count() == 2
    first = Lease.objects.filter(task=pulling_task, holder=annotator).order_by("id").first()
    assert first.end == "expired" and first.returned == 2
    assert HoldingChange.objects.filter(task=pulling_task, kind="expire").count() == 5
    assert_counters(pulling_task)
    # Expiring again finds nothing.
    assert leases.leases_expire() == 0


def test_the_next_claim_in_the_task_returns_expired_batches_first(pulling_task, annotator, annotator2):
    age(pulling_task, annotator, 1)
    theirs = set(
        TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator).values_list("pk", flat=True)
    )
    # annotator2 finishes their batch; their refill claim sweeps annotator's expired lease first.
    for row in TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator2).order_by("rank"):
        flow.item_status_set(task=pulling_task, item=row.item, status="completed", by=annotator2)
    assert held(pulling_task, annotator) == 0
    # Back at the head of the queue, they were the next batch annotator2 pulled.
    assert TaskItem.objects.filter(pk__in=theirs, assignment__assignee=annotator2).count() == 3
    assert_counters(pulling_task)


def test_the_beat_job_sweeps_where_nobody_claims(pulling_task, annotator):
    age(pulling_task, annotator, 1)
    assert expire_leases() == 3
    assert held(pulling_task, annotator) == 0


def test_working_renews_the_holders_leases(pulling_task, annotator):
    age(pulling_task, annotator, -10)  # ten seconds left
    row = TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator).order_by("rank").first()
    flow.item_status_set(task=pulling_task, item=row.item, status="completed", by=annotator)
    lease = Lease.objects.filter(task=pulling_task, holder=annotator).order_by("id").first()
    assert lease.expires_at > timezone.now() + datetime.timedelta(minutes=59)
    age(pulling_task, annotator, -10)
    other = TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator, status=None).first()
    services.item_time_beat(task_item=other, by=annotator, marks_ago_ms=[5000, 0])
    assert Lease.objects.get(pk=lease.pk).expires_at > timezone.now() + datetime.timedelta(minutes=59)
    assert leases.leases_expire() == 0


def test_a_manager_releases_a_persons_leases(pulling_task, manager, annotator):
    result = leases.lease_release_person(task=pulling_task, user=annotator, by=manager)
    assert (result.items, result.leases) == (3, 1)
    assert held(pulling_task, annotator) == 0
    assert HoldingChange.objects.filter(task=pulling_task, kind="release", by=manager).count() == 3
    assert Lease.objects.get(task=pulling_task, holder=annotator).end == "released"
    assert_counters(pulling_task)
    # They can pull again at once.
    assert pulling_claim(task=pulling_task, user=annotator) == 3


def test_a_manager_releases_one_item(pulling_task, manager, annotator):
    rows = list(TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator).order_by("rank"))
    leases.lease_release_item(task=pulling_task, item_id=rows[0].item_id, by=manager)
    assert TaskItem.objects.get(pk=rows[0].pk).in_queue
    assert held(pulling_task, annotator) == 2
    flow.item_status_set(task=pulling_task, item=rows[1].item, status="completed", by=annotator)
    with pytest.raises(ValidationError, match="status"):
        leases.lease_release_item(task=pulling_task, item_id=rows[1].item_id, by=manager)
    queued = TaskItem.objects.filter(task=pulling_task, in_queue=True).first()
    with pytest.raises(ValidationError, match="Nobody holds"):
        leases.lease_release_item(task=pulling_task, item_id=queued.item_id, by=manager)
    assert_counters(pulling_task)


def test_a_reassigned_item_leaves_its_lease(pulling_task, manager, annotator, annotator3):
    mine = Assignment.objects.get(task=pulling_task, assignee=annotator)
    assignment_reassign(assignment=mine, to_user=annotator3, by=manager)
    age(pulling_task, annotator, 1)
    assert leases.leases_expire() == 0
    assert held(pulling_task, annotator3) == 3
    assert_counters(pulling_task)


def test_holdings_show_who_holds_what_until_when(pulling_task, annotator, annotator2):
    age(pulling_task, annotator, 1)
    rows = leases.task_holdings(pulling_task)
    assert [(h.holder.email, h.held, h.expired) for h in rows] == [
        (annotator.email, 3, True),
        (annotator2.email, 3, False),
    ]
