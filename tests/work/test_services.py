"""The rules of work, through the core services (statuses) and ours (labels, QA, pulling)."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from taskboard.annotation import moves, pulling
from taskboard.annotation import services as core
from taskboard.annotation.models import (
    Assignment,
    AssignmentKind,
    ChangeKind,
    HoldingChange,
    StatusCount,
    TaskItem,
)
from taskboard.annotation.progress import assignment_progress, tasks_progress
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit
from taskboard.dashboards import counters
from taskboard.dashboards import queries as dashboard_queries
from taskboard.datasets.models import Annotation
from taskboard.work import flow, queries, services
from taskboard.work.models import ConsensusResult
from tests.factories import create_task, in_days, make_items

ALL = Selection(mode="all")


def rows(assignment):
    return list(TaskItem.objects.filter(assignment=assignment).select_related("item", "assignment", "task"))


def work(task, user):
    return Assignment.objects.select_related("task").get(task=task, assignee=user, kind=AssignmentKind.WORK)


def complete(task_item, user, status="completed"):
    return flow.item_status_set(task=task_item.task, item=task_item.item, status=status, by=user, copy=task_item.copy)


# --- pulling -------------------------------------------------------------------------------------------


@pytest.fixture
def pulling_task(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/q": 40})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="Pull",
        selection=ALL,
        assignees=[annotator, annotator2],
        due_at=in_days(3),
        allocation="pulling",
        batch_size=5,
        max_batch_workload=8,
    )


def test_a_batch_arrives_when_undone_items_fall_low(pulling_task, annotator):
    mine = work(pulling_task, annotator)
    assert mine.item_count == 5
    held = sorted(rows(mine), key=lambda r: r.rank)
    complete(held[0], annotator)  # 4 undone > 8 - 5: nothing yet
    assert work(pulling_task, annotator).item_count == 5
    complete(held[1], annotator)  # 3 undone: the next batch comes in, up to 8 undone
    mine = work(pulling_task, annotator)
    assert mine.item_count == 10
    assert assignment_progress(mine).todo == 8
    assert HoldingChange.objects.filter(task=pulling_task, kind=ChangeKind.CLAIM, to_assignment=mine).count() == 10


def test_get_more_is_refused_past_max_batch_workload(pulling_task, annotator):
    mine = work(pulling_task, annotator)
    with pytest.raises(ValidationError) as error:
        services.pulling_get_more(assignment=mine, by=annotator)
    assert "assignment" in error.value.message_dict
    # The primitive itself refuses too, whoever calls it.
    assert pulling.pulling_claim(task=pulling_task, user=annotator) == 0
    assert work(pulling_task, annotator).item_count == 5


def test_get_more_claims_when_the_rule_allows(pulling_task, annotator):
    mine = work(pulling_task, annotator)
    for task_item in rows(mine)[:2]:
        TaskItem.objects.filter(pk=task_item.pk).update(status="completed")
    StatusCount.objects.filter(assignment=mine, status="completed").update(count=2)
    assert services.pulling_may_pull(mine)
    assert services.pulling_get_more(assignment=mine, by=annotator) == 5
    assert assignment_progress(work(pulling_task, annotator)).todo == 8


def test_only_the_assignee_gets_more(pulling_task, annotator, annotator2):
    with pytest.raises(ValidationError):
        services.pulling_get_more(assignment=work(pulling_task, annotator), by=annotator2)


# --- statuses: who, which, when ------------------------------------------------------------------------


@pytest.fixture
def task(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/city": 6})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="Boxes",
        selection=ALL,
        assignees=[annotator, annotator2],
        due_at=in_days(3),
    )


def test_only_the_assignee_sets_a_status(task, annotator, annotator2):
    theirs = rows(work(task, annotator2))[0]
    with pytest.raises((PermissionDenied, ValidationError)):
        complete(theirs, annotator)
    assert TaskItem.objects.get(pk=theirs.pk).status is None


def test_statuses_stay_within_the_tasks_statuses(task, annotator):
    mine = rows(work(task, annotator))[0]
    with pytest.raises(ValidationError):
        complete(mine, annotator, status="approved")


def test_no_status_on_a_closed_or_locked_task(task, annotator, manager):
    mine = rows(work(task, annotator))[0]
    task.lock_after_due = True
    task.due_at = timezone.now() - datetime.timedelta(minutes=1)
    task.save()
    with pytest.raises(ValidationError):
        complete(mine, annotator)
    task.lock_after_due = False
    task.save()
    complete(mine, annotator)
    core.task_close(task=task, by=manager)
    with pytest.raises(ValidationError):
        flow.item_status_clear(task=task, item=mine.item, by=annotator)


def test_custom_statuses_count(dataset, recipe, manager, annotator):
    make_items(dataset, {"/x": 3})
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="Custom",
        selection=ALL,
        assignees=[annotator],
        due_at=in_days(2),
        statuses=[
            {"key": "completed", "label": "Completed", "color": "#2e7d32", "is_done": True},
            {"key": "unsure", "label": "Unsure", "color": "#b26a00", "is_done": False},
        ],
    )
    first, second, _ = sorted(rows(work(task, annotator)), key=lambda r: r.rank)
    complete(first, annotator, "unsure")
    complete(second, annotator)
    progress = assignment_progress(work(task, annotator))
    assert (progress.done, progress.remaining) == (1, 2)


# --- consensus -----------------------------------------------------------------------------------------


def test_consensus_agreement_is_computed_when_every_copy_has_a_status(
    dataset, recipe, manager, annotator, annotator2, annotator3
):
    make_items(dataset, {"/c": 2})
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="Agree",
        selection=ALL,
        assignees=[annotator, annotator2, annotator3],
        due_at=in_days(2),
        consensus_percentage=100,
        consensus_assignees=2,
    )
    car, person = recipe.labels.order_by("position")
    copies = list(TaskItem.objects.filter(task=task, copy__gt=0).select_related("assignment", "item", "task"))
    assert len(copies) == 4
    by_item: dict[int, list[TaskItem]] = {}
    for c in copies:
        by_item.setdefault(c.item_id, []).append(c)
    (a, b), (c, d) = by_item.values()
    assert a.assignment.assignee_id != b.assignment.assignee_id
    for copy, label in [(a, car), (b, car), (c, car), (d, person)]:
        services.item_label_toggle(task_item=copy, label=label, by=copy.assignment.assignee)
    complete(a, a.assignment.assignee)
    assert not ConsensusResult.objects.exists()
    complete(b, b.assignment.assignee)
    complete(c, c.assignment.assignee)
    complete(d, d.assignment.assignee)
    results = {r.item_id: r.agreement for r in ConsensusResult.objects.all()}
    assert results == {a.item_id: 1.0, c.item_id: 0.5}
    assert dashboard_queries.consensus_summary(task).agreement == pytest.approx(0.75)
    # An annotator sees only their own label on their copy.
    assert [label.name for label, chosen in queries.labels_with_choice(task_item=d) if chosen] == ["person"]


# --- the QA loop ---------------------------------------------------------------------------------------


@pytest.fixture
def qa_setup(task, dataset, manager, annotator, reviewer):
    done = sorted(rows(work(task, annotator)), key=lambda r: r.rank)
    complete(done[0], annotator)
    complete(done[1], annotator)
    qa = create_task(
        dataset=dataset,
        created_by=manager,
        name="",
        task_type="qa",
        parent=task,
        assignees=[reviewer],
        due_at=in_days(3),
    )
    return task, qa, done


def test_reject_sends_the_item_back_to_its_annotator_for_rework(qa_setup, annotator, reviewer):
    task, qa, done = qa_setup
    qa_item = sorted(rows(work(qa, reviewer)), key=lambda r: r.rank)[0]
    assert qa_item.item_id == done[0].item_id
    flow.item_reject(qa_task_item=qa_item, comment="Missed the bike", by=reviewer)

    parent = TaskItem.objects.get(pk=done[0].pk)
    assert (parent.status, parent.rework, parent.comment) == (None, True, "Missed the bike")
    assert parent.assignment_id == work(task, annotator).pk
    qa_item.refresh_from_db()
    assert qa_item.rework and qa_item.status is None
    assert work(task, annotator).rework_count == 1
    assert work(qa, reviewer).issue_count == 1
    # Both sides of the loop, as the task pages read them: out for rework there, an open issue here.
    on_task, on_qa = tasks_progress([task, qa])[task.pk], tasks_progress([task, qa])[qa.pk]
    assert (on_task.issues, on_task.rework) == (1, 1)
    assert (on_qa.issues, on_qa.rework) == (1, 1)
    assert HoldingChange.objects.filter(task=task, item_id=parent.item_id, kind=ChangeKind.REWORK).count() == 1

    # The annotator completes it again: it returns to the same reviewer, to be looked at again.
    complete(parent, annotator)
    parent.refresh_from_db()
    qa_item.refresh_from_db()
    assert not parent.rework and parent.status == "completed"
    assert not qa_item.rework and qa_item.status is None and qa_item.assignment_id == work(qa, reviewer).pk
    assert work(task, annotator).rework_count == 0 and work(qa, reviewer).issue_count == 0
    assert HoldingChange.objects.filter(task=qa, item_id=parent.item_id, kind=ChangeKind.RETURN).exists()
    complete(qa_item, reviewer, "approved")
    assert TaskItem.objects.get(pk=qa_item.pk).status == "approved"
    history = queries.item_history(parent.item, task=qa)
    assert {c.kind for c in history} >= {ChangeKind.REWORK, ChangeKind.RETURN}


def test_two_qa_tasks_rejecting_one_item_send_it_back_once(
    qa_setup, dataset, manager, annotator, annotator3, reviewer
):
    task, qa, done = qa_setup
    second_qa = create_task(
        dataset=dataset,
        created_by=manager,
        name="Second look",
        task_type="qa",
        parent=task,
        assignees=[annotator3],
        due_at=in_days(3),
    )
    first = next(r for r in rows(work(qa, reviewer)) if r.item_id == done[0].item_id)
    second = next(r for r in rows(work(second_qa, annotator3)) if r.item_id == done[0].item_id)
    flow.item_reject(qa_task_item=first, comment="Missed the bike", by=reviewer)
    flow.item_reject(qa_task_item=second, comment="Box too loose", by=annotator3)

    parent = TaskItem.objects.get(pk=done[0].pk)
    assert parent.rework and parent.comment == "Missed the bike\n\nBox too loose"
    assert work(task, annotator).rework_count == 1
    assert work(qa, reviewer).issue_count == 1 and work(second_qa, annotator3).issue_count == 1
    assert counters.find_drift([task.pk, qa.pk, second_qa.pk]) == []

    # One fix answers both reviewers: each gets the item back to look at again.
    complete(parent, annotator)
    assert work(task, annotator).rework_count == 0
    for row in (first, second):
        row.refresh_from_db()
        assert not row.rework and row.status is None
    assert work(qa, reviewer).issue_count == 0 and work(second_qa, annotator3).issue_count == 0
    assert counters.find_drift([task.pk, qa.pk, second_qa.pk]) == []


def test_reject_needs_a_comment_and_the_reviewer(qa_setup, reviewer, annotator):
    task, qa, done = qa_setup
    qa_item = rows(work(qa, reviewer))[0]
    with pytest.raises(ValidationError) as error:
        flow.item_reject(qa_task_item=qa_item, comment="  ", by=reviewer)
    assert "comment" in error.value.message_dict
    with pytest.raises(ValidationError):
        flow.item_reject(qa_task_item=qa_item, comment="no", by=annotator)
    flow.item_reject(qa_task_item=qa_item, comment="again", by=reviewer)
    with pytest.raises(ValidationError):
        flow.item_reject(
            qa_task_item=TaskItem.objects.select_related("task", "assignment").get(pk=qa_item.pk),
            comment="twice",
            by=reviewer,
        )


def test_rework_goes_back_to_who_did_it_after_a_reassign(qa_setup, annotator, annotator3, reviewer, manager):
    task, qa, done = qa_setup
    # bob's undone items go to dave; the done ones stay with bob.
    moves.assignment_reassign(assignment=work(task, annotator), to_user=annotator3, by=manager)
    qa_item = [r for r in rows(work(qa, reviewer)) if r.item_id == done[0].item_id][0]
    flow.item_reject(qa_task_item=qa_item, comment="fix", by=reviewer)
    assert TaskItem.objects.get(pk=done[0].pk).assignment_id == work(task, annotator).pk


def test_qa_intake_takes_items_as_they_get_a_status(qa_setup, annotator, reviewer):
    task, qa, done = qa_setup
    before = work(qa, reviewer).item_count
    complete(done[2], annotator)
    assert work(qa, reviewer).item_count == before + 1
    assert TaskItem.objects.filter(task=qa, item_id=done[2].item_id).exists()


def test_no_intake_when_turned_off(task, dataset, manager, annotator, reviewer):
    done = sorted(rows(work(task, annotator)), key=lambda r: r.rank)
    complete(done[0], annotator)
    qa = create_task(
        dataset=dataset,
        created_by=manager,
        name="Strict",
        task_type="qa",
        parent=task,
        assignees=[reviewer],
        due_at=in_days(3),
        qa_intake=False,
    )
    complete(done[1], annotator)
    assert TaskItem.objects.filter(task=qa).count() == 1


# --- manager actions on live work ----------------------------------------------------------------------


def test_moves_appear_in_the_task_and_item_records(task, annotator, annotator2, annotator3, manager):
    mine = sorted(rows(work(task, annotator)), key=lambda r: r.rank)
    complete(mine[0], annotator)
    moves.assignment_redistribute(
        assignment=work(task, annotator),
        workload=[WorkloadUnit(annotator2, 50), WorkloadUnit(annotator3, 50)],
        by=manager,
    )
    moved = HoldingChange.objects.filter(task=task, kind=ChangeKind.REDISTRIBUTE)
    assert moved.count() == len(mine) - 1
    assert not moved.filter(item_id=mine[0].item_id).exists()
    history = queries.item_history(mine[1].item)
    assert history[0].kind == ChangeKind.REDISTRIBUTE and history[0].by == manager


def test_labels_only_by_the_holder(task, annotator, annotator2, recipe):
    theirs = rows(work(task, annotator2))[0]
    with pytest.raises(ValidationError):
        services.item_label_toggle(task_item=theirs, label=recipe.labels.first(), by=annotator)
    assert not Annotation.objects.exists()


def test_qa_intake_into_a_pulling_qa_task_goes_to_its_queue(task, dataset, manager, annotator, annotator2, reviewer):
    from taskboard.annotation.models import AnnotationTask

    done = sorted(rows(work(task, annotator)), key=lambda r: r.rank)
    complete(done[0], annotator)
    qa = create_task(
        dataset=dataset,
        created_by=manager,
        name="Pulled QA",
        task_type="qa",
        parent=task,
        assignees=[reviewer],
        due_at=in_days(3),
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
    )
    before = TaskItem.objects.filter(task=qa).count()
    complete(done[1], annotator)
    added = TaskItem.objects.get(task=qa, item_id=done[1].item_id)
    assert TaskItem.objects.filter(task=qa).count() == before + 1
    # Either waiting in the queue or already pulled by the reviewer, never lost.
    assert added.in_queue or added.assignment.assignee_id == reviewer.pk
    # Every QA item with a status makes the QA task "completed"; it still takes items in.
    AnnotationTask.objects.filter(pk=qa.pk).update(state="completed")
    complete(done[2], annotator)
    assert TaskItem.objects.filter(task=qa, item_id=done[2].item_id).exists()
    # A closed one does not.
    core.task_close(task=qa, by=manager)
    theirs = rows(work(task, annotator2))[0]
    complete(theirs, annotator2)
    assert not TaskItem.objects.filter(task=qa, item_id=theirs.item_id).exists()


def test_reject_works_when_every_parent_item_is_done(dataset, recipe, manager, annotator, reviewer):
    make_items(dataset, {"/all": 2})
    task = create_task(
        dataset=dataset, created_by=manager, name="Finished", selection=ALL, assignees=[annotator], due_at=in_days(2)
    )
    for task_item in rows(work(task, annotator)):
        complete(task_item, annotator)
    task.refresh_from_db()
    assert task.state == "completed"
    qa = create_task(
        dataset=dataset,
        created_by=manager,
        name="",
        task_type="qa",
        parent=task,
        assignees=[reviewer],
        due_at=in_days(2),
    )
    qa_item = rows(work(qa, reviewer))[0]
    flow.item_reject(qa_task_item=qa_item, comment="Redo", by=reviewer)
    task.refresh_from_db()
    assert task.state == "open"
    parent = TaskItem.objects.get(task=task, item_id=qa_item.item_id)
    assert parent.rework and parent.status is None
    complete(parent, annotator)
    assert not TaskItem.objects.get(pk=qa_item.pk).rework
