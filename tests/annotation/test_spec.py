"""The task spec: its plan (what the wizard's review shows) is what creation makes, per person, for
every kind of task; and it survives JSON for jobs."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskboard.annotation.creation import task_create
from taskboard.annotation.models import Assignment, AssignmentKind, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.annotation.spec import Consensus, Load, Pulling, StatusDef, TaskSpec, equal_people
from taskboard.work.services import pulling_queue_size
from tests.factories import in_days, make_items

KINDS = ["equal", "loads", "pulling", "consensus"]
_made = []


@pytest.fixture
def crowd(dataset, recipe, manager, annotator, annotator2, annotator3):
    make_items(dataset, {"/a": 40, "/b": 40})
    return [annotator, annotator2, annotator3, manager]


def _shares(n: int, data) -> tuple[int, ...]:
    cuts = sorted(data.draw(st.lists(st.integers(1, 99), min_size=n - 1, max_size=n - 1, unique=True)))
    edges = [0, *cuts, 100]
    return tuple(b - a for a, b in zip(edges, edges[1:], strict=False))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_plan_is_exactly_what_creation_makes(dataset, manager, crowd, data):
    kind = data.draw(st.sampled_from(KINDS))
    people = crowd[: data.draw(st.integers(2 if kind == "consensus" else 1, len(crowd)))]
    total = data.draw(st.integers(1, 80))
    if kind == "loads" and len(people) > 1:
        loads = tuple(Load(user_id=u.pk, share=s) for u, s in zip(people, _shares(len(people), data), strict=True))
    else:
        loads = equal_people(u.pk for u in people)
    pulling = consensus = None
    if kind == "pulling":
        batch = data.draw(st.integers(3, 12))
        pulling = Pulling(batch_size=batch, max_batch_workload=data.draw(st.integers(batch + 2, 2 * batch)))
    if kind == "consensus":
        consensus = Consensus(
            percentage=data.draw(st.integers(0, 100)), assignees=data.draw(st.integers(2, len(people)))
        )
    spec = TaskSpec(
        dataset_id=dataset.pk,
        name=f"t{len(_made)}",
        due_at=in_days(3),
        selection=Selection(mode="all"),
        limit=total,
        people=loads,
        pulling=pulling,
        consensus=consensus,
    )
    plan = spec.check(by=manager).plan()
    task = task_create(spec=spec, by=manager)
    _made.append(task.pk)

    held = {a.assignee_id: a for a in Assignment.objects.filter(task=task, kind=AssignmentKind.WORK)}
    assert {s.user.pk: s.items for s in plan.shares} == {pk: a.item_count for pk, a in held.items()}
    rows = {pk: TaskItem.objects.filter(assignment=a).count() for pk, a in held.items()}
    assert rows == {pk: a.item_count for pk, a in held.items()}
    assert plan.total == total
    if pulling:
        assert pulling_queue_size(task) == plan.queued
    if consensus:
        pool = Assignment.objects.get(task=task, kind=AssignmentKind.CONSENSUS)
        assert pool.item_count == plan.originals == total * consensus.percentage // 100
        assert sum(s.items for s in plan.shares) == total - plan.originals + plan.copies
    if kind == "equal" or (kind == "loads" and len(people) == 1):
        counts = [s.items for s in plan.shares]
        assert max(counts) - min(counts) <= 1


def test_a_spec_round_trips_through_json(dataset, manager, annotator):
    spec = TaskSpec(
        dataset_id=dataset.pk,
        name="round trip",
        due_at=in_days(2),
        selection=Selection(mode="folder", folder="/a", include_subfolders=False),
        limit=7,
        people=(Load(user_id=annotator.pk, share=60), Load(user_id=manager.pk, share=40)),
        pulling=Pulling(batch_size=5, max_batch_workload=8),
        priority=3,
        statuses=(StatusDef(key="ok", label="OK", color="#00ff00", is_done=True),),
        metadata={"batch": 2},
        idempotency_key="k",
    )
    assert TaskSpec.from_json(spec.to_json()) == spec


def test_every_rule_broken_at_once_is_named_at_once(dataset, recipe, manager, annotator):
    spec = TaskSpec(
        dataset_id=dataset.pk,
        name="",
        due_at=in_days(-1),
        priority=7,
        people=(Load(user_id=annotator.pk, share=40),),
        pulling=Pulling(batch_size=2, max_batch_workload=3),
        description="x" * 10_001,
    )
    with pytest.raises(Exception) as caught:
        spec.check(by=manager)
    assert set(caught.value.message_dict) >= {
        "name",
        "due_at",
        "priority",
        "batch_size",
        "description",
        "allowed_assignees",
    }
