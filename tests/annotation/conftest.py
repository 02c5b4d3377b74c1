import pytest

from taskboard.annotation.models import Assignment, AssignmentKind, HoldingChange, StatusCount, TaskItem, settle_queue
from tests.factories import in_days, make_items


@pytest.fixture
def items(dataset, recipe):
    """30 items in folder order: /city/day 10, /city/night 10, /highway 10."""
    return make_items(dataset, {"/city/day": 10, "/city/night": 10, "/highway": 10}, annotated_every=3)


@pytest.fixture
def due():
    return in_days(7)


@pytest.fixture
def team(annotator, annotator2, annotator3):
    return [annotator, annotator2, annotator3]


def assert_counters(task):
    """Every counter equals a recount of the rows it counts (a queue's, once its claims are taken off)."""
    for a in settle_queue(list(Assignment.objects.filter(task=task))):
        assert a.item_count == TaskItem.objects.filter(assignment=a).count(), a
        claims = HoldingChange.objects.filter(kind="claim", to_assignment=a).count()
        # Lease expiries, releases and skips back to the queue give claimed items back.
        claims -= HoldingChange.objects.filter(from_assignment=a, to_assignment__kind=AssignmentKind.QUEUE).count()
        assert a.claimed_count == (claims if a.kind == AssignmentKind.WORK else 0), a
        for sc in StatusCount.objects.filter(assignment=a):
            assert sc.count == TaskItem.objects.filter(assignment=a, status=sc.status).count(), sc
    assert not TaskItem.objects.filter(task=task).exclude(assignment__task=task).exists()
