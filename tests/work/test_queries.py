import pytest

from taskboard.annotation.models import Assignment, AssignmentKind, ChangeKind, HoldingChange, TaskItem
from taskboard.dashboards import queries as dashboard_queries
from taskboard.datasets.models import Annotation
from taskboard.work import consensus, queries, services
from taskboard.work.models import AssignmentTime, ConsensusResult, ItemTime
from tests.factories import make_items
from tests.work.helpers import build_task


def test_consensus_score_is_the_share_of_the_majority_label_set():
    sets = [frozenset({"car"}), frozenset({"car"}), frozenset({"car", "person"})]
    assert consensus.consensus_score(sets) == (pytest.approx(2 / 3), ["car"])
    assert consensus.consensus_score([frozenset(), frozenset()]) == (1.0, [])


def _consensus_task(dataset, recipe, manager, people):
    items = make_items(dataset, {"/c": 2})
    task, assignments = build_task(
        dataset=dataset,
        recipe=recipe,
        by=manager,
        people=people,
        items=[],
        consensus_percentage=100,
        consensus_assignees=len(people),
    )
    rows = [
        TaskItem(task=task, item=item, assignment=a, copy=copy, rank=i)
        for i, item in enumerate(items)
        for copy, a in enumerate(assignments, start=1)
    ]
    TaskItem.objects.bulk_create(rows)
    return task, assignments, items


def test_agreement_is_stored_once_every_copy_has_a_status(dataset, recipe, manager, annotator, annotator2, annotator3):
    people = [annotator, annotator2, annotator3]
    task, assignments, items = _consensus_task(dataset, recipe, manager, people)
    car, person = recipe.labels.order_by("position")
    item = items[0]
    for user, labels in zip(people, [[car], [car], [person]], strict=True):
        for label in labels:
            Annotation.objects.create(item=item, task=task, label=label, label_name=label.name, created_by=user)
    copies = list(TaskItem.objects.filter(task=task, item=item).order_by("copy"))
    for copy in copies[:2]:
        TaskItem.objects.filter(pk=copy.pk).update(status="completed")
    assert consensus.consensus_update(task=task, item_id=item.pk) is None
    TaskItem.objects.filter(pk=copies[2].pk).update(status="completed")
    result = consensus.consensus_update(task=task, item_id=item.pk)
    assert result.agreement == pytest.approx(2 / 3) and result.copies == 3 and result.majority == ["car"]
    # Clearing one copy withdraws the figure until it is set again.
    TaskItem.objects.filter(pk=copies[0].pk).update(status=None)
    consensus.consensus_update(task=task, item_id=item.pk)
    assert not ConsensusResult.objects.exists()
    TaskItem.objects.filter(pk=copies[0].pk).update(status="completed")
    consensus.consensus_update(task=task, item_id=item.pk)
    ConsensusResult.objects.create(task=task, item=items[1], agreement=1.0, copies=3)
    assert sorted(ConsensusResult.objects.filter(task=task).values_list("agreement", flat=True)) == [
        pytest.approx(2 / 3),
        1.0,
    ]


def test_consensus_annotators_see_only_their_own_labels(dataset, recipe, manager, annotator, annotator2):
    task, assignments, items = _consensus_task(dataset, recipe, manager, [annotator, annotator2])
    car, person = recipe.labels.order_by("position")
    Annotation.objects.create(item=items[0], task=task, label=car, label_name="car", created_by=annotator)
    Annotation.objects.create(item=items[0], task=task, label=person, label_name="person", created_by=annotator2)
    bobs = TaskItem.objects.select_related("assignment", "task").get(assignment=assignments[0], item=items[0])
    assert [label.name for label, chosen in queries.labels_with_choice(task_item=bobs) if chosen] == ["car"]


def test_active_seconds(dataset, recipe, manager, annotator, annotator2):
    """Per assignee, from the per-assignment totals. (The pace per active hour is the forecast's:
    dashboards.forecast, from the per-day counters.)"""
    items = make_items(dataset, {"/p": 4})
    task, (a1, a2) = build_task(
        dataset=dataset, recipe=recipe, by=manager, people=[annotator, annotator2], items=items
    )
    ItemTime.objects.create(user=annotator, task=task, assignment=a1, item=items[0], active_seconds=900)
    ItemTime.objects.create(user=annotator, task=task, assignment=a1, item=items[1], active_seconds=900)
    ItemTime.objects.create(user=annotator2, task=task, assignment=a2, item=items[2], active_seconds=60)
    AssignmentTime.objects.create(assignment=a1, task=task, user=annotator, active_seconds=1800, items=2)
    AssignmentTime.objects.create(assignment=a2, task=task, user=annotator2, active_seconds=60, items=1)
    assert dashboard_queries.active_seconds_by_user_in_tasks([task.pk]) == {annotator.pk: 1800.0, annotator2.pk: 60.0}


def test_item_history_lists_the_items_moves(dataset, recipe, manager, annotator, annotator2):
    items = make_items(dataset, {"/h": 2})
    task, (a1, a2) = build_task(
        dataset=dataset, recipe=recipe, by=manager, people=[annotator, annotator2], items=items
    )
    HoldingChange.objects.create(
        task=task, item=items[0], kind=ChangeKind.REASSIGN, from_assignment=a1, to_assignment=a2, by=manager
    )
    HoldingChange.objects.create(task=task, kind=ChangeKind.CREATE, count=2, by=manager)
    history = queries.item_history(items[0])
    assert [c.kind for c in history] == [ChangeKind.REASSIGN]
    assert queries.item_history(items[1]) == []


def test_pulling_rule_from_counters(dataset, recipe, manager, annotator):
    items = make_items(dataset, {"/q": 20})
    task, (mine,) = build_task(
        dataset=dataset,
        recipe=recipe,
        by=manager,
        people=[annotator],
        items=items[:5],
        allocation="pulling",
        batch_size=5,
        max_batch_workload=8,
    )
    Assignment.objects.create(task=task, kind=AssignmentKind.QUEUE, item_count=15)
    mine = Assignment.objects.select_related("task").get(pk=mine.pk)
    assert not services.pulling_may_pull(mine)  # 5 undone > 8 - 5
    mine.status_counts.create(status="completed", count=2)
    assert services.pulling_may_pull(mine)  # 3 undone
    mine.status_counts.create(status="discard", count=1)
    assert services.pulling_may_pull(mine)
    mine.item_count = 12  # 12 - 3 with a status = 9 undone
    assert not services.pulling_may_pull(mine)
