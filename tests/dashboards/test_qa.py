"""QA verdicts reach the annotator's numbers: approval in QA, first-pass approval, rework and issues."""

import pytest

from taskboard.annotation import moves
from taskboard.annotation.models import TaskItem
from taskboard.dashboards import counters, queries
from taskboard.dashboards.models import ReviewTally
from taskboard.work import flow
from tests.dashboards.conftest import held_items
from tests.factories import create_task, in_days


def qa_row(qa, item):
    return TaskItem.objects.get(task=qa, item=item)


def test_verdicts_are_credited_to_the_annotator(make_task, manager, annotator, reviewer, recipe):
    task = make_task(assignees=[annotator], folder="/highway")
    qa = create_task(
        dataset=task.dataset,
        created_by=manager,
        name="Cars_qa",
        task_type="qa",
        parent=task,
        assignees=[reviewer],
        due_at=in_days(3),
        recipe=recipe,
    )
    one, two, three = held_items(task, annotator)[:3]
    for item in (one, two, three):
        flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    assert TaskItem.objects.filter(task=qa).count() == 3  # taken in as they got a status

    flow.item_status_set(task=qa, item=one, status="approved", by=reviewer)
    flow.item_reject(qa_task_item=qa_row(qa, two), comment="box too loose", by=reviewer)
    assert counters.find_drift() == []
    numbers = queries.task_numbers(task)
    assert numbers.rework == 1
    assert queries.task_numbers(qa).issues == 1

    flow.item_status_set(task=task, item=two, status="completed", by=annotator)  # rework done
    flow.item_status_set(task=qa, item=two, status="approved", by=reviewer)
    flow.item_status_set(task=qa, item=three, status="discard", by=reviewer)
    assert counters.find_drift() == []

    tally = ReviewTally.objects.get(task=task, annotator=annotator)
    assert (tally.approved, tally.first_pass, tally.discarded) == (2, 1, 1)
    (bob,) = queries.task_numbers(task).rows
    assert bob.approval_rate == pytest.approx(2 / 4)  # approved / (approved + discarded + sent back)
    (card,) = queries.people_scorecards(task.project)
    assert card.sent_back == 1 and card.first_pass_rate == pytest.approx(1 / 3)
    (rita,) = queries.task_numbers(qa).rows
    assert rita.approval_rate == pytest.approx(2 / 3)


def _rejected_item(make_task, manager, annotator, reviewer, recipe):
    task = make_task(assignees=[annotator], folder="/highway")
    qa = create_task(
        dataset=task.dataset,
        created_by=manager,
        name="Cars_qa",
        task_type="qa",
        parent=task,
        assignees=[reviewer],
        due_at=in_days(3),
        recipe=recipe,
    )
    item = held_items(task, annotator)[0]
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    flow.item_reject(qa_task_item=qa_row(qa, item), comment="again", by=reviewer)
    assert counters.find_drift() == []
    return task, item


def test_removing_an_item_out_for_rework_keeps_counters(make_task, manager, annotator, reviewer, recipe):
    from taskboard.annotation.selection import Selection

    task, item = _rejected_item(make_task, manager, annotator, reviewer, recipe)
    result = moves.task_remove_items(task=task, selection=Selection(mode="list", item_ids=(item.pk,)), by=manager)
    assert (result.removed, result.kept) == (1, 0)
    assert counters.find_drift() == []
    # The QA row that waited for this rework is gone with it, and its issue with it.
    qa = task.qa_tasks.get()
    assert not TaskItem.objects.filter(task=qa, item=item).exists()
    assert qa.assignments.get(assignee=reviewer).issue_count == 0


def test_reassigning_rework_moves_its_counter(make_task, manager, annotator, annotator2, reviewer, recipe):
    from taskboard.annotation.models import Assignment

    task, item = _rejected_item(make_task, manager, annotator, reviewer, recipe)
    moves.assignment_reassign(
        assignment=Assignment.objects.get(task=task, assignee=annotator), to_user=annotator2, by=manager
    )
    assert counters.find_drift() == []


def _sql_touching(table, fn):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries_run:
        fn()
    return [q["sql"] for q in queries_run.captured_queries if table in q["sql"]]


def test_sent_back_is_a_counter_not_a_count_of_change_records(make_task, manager, annotator, reviewer, recipe):
    task, item = _rejected_item(make_task, manager, annotator, reviewer, recipe)
    tally = ReviewTally.objects.get(task=task, annotator=annotator)
    assert (tally.sent_back, tally.approved) == (1, 0)
    # The dashboards read the tally: the change records (one per item claimed, moved or sent back)
    # are never scanned by a poll, nor by the scorecards.
    assert _sql_touching("annotation_holdingchange", lambda: queries.task_numbers(task)) == []
    assert _sql_touching("annotation_holdingchange", lambda: queries.people_scorecards(task.project)) == []
    (card,) = queries.people_scorecards(task.project)
    assert card.sent_back == 1 and card.first_pass_rate == 0
    (bob,) = queries.task_numbers(task).rows
    assert bob.approval_rate == 0  # judged once, sent back


def test_drift_check_covers_sent_back(make_task, manager, annotator, reviewer, recipe):
    task, item = _rejected_item(make_task, manager, annotator, reviewer, recipe)
    ReviewTally.objects.filter(task=task).update(sent_back=5)
    (drift,) = counters.find_drift([task.pk])
    assert (drift.counter, drift.stored, drift.actual) == ("sent_back", 5, 1)
    assert "sent_back stored 5, actual 1" in str(drift)
    counters.rebuild([task.pk])
    assert ReviewTally.objects.get(task=task).sent_back == 1
    ReviewTally.objects.all().delete()
    assert [d.counter for d in counters.find_drift([task.pk])] == ["sent_back"]
    counters.rebuild([task.pk])
    assert counters.find_drift() == []


def test_issue_and_rework_counts_show_on_both_tasks(client, make_task, manager, annotator, reviewer, recipe):
    from django.urls import reverse

    task, item = _rejected_item(make_task, manager, annotator, reviewer, recipe)
    qa = task.qa_tasks.get()
    # The annotation task: the open issue its QA task raised, on the row of whoever holds the item.
    numbers = queries.task_numbers(task)
    (bob,) = numbers.rows
    assert (numbers.issues, numbers.rework, bob.issues, bob.rework) == (1, 1, 1, 1)
    # The QA task: the issue, and the item waiting for its rework.
    numbers = queries.task_numbers(qa)
    (rita,) = numbers.rows
    assert (numbers.issues, numbers.rework, rita.issues, rita.rework) == (1, 1, 1, 1)

    client.force_login(manager)
    for t in (task, qa):
        page = client.get(reverse("dashboards:task-detail", args=[t.pk])).content.decode()
        assert 'id="progress-issues">1 open issue<' in page and 'id="progress-rework">1 out for rework<' in page
        dashboard = client.get(reverse("dashboards:task", args=[t.pk])).content.decode()
        assert '<span class="kpi-value">1 · 1</span>' in dashboard

    # The rework done, the issue closes on both sides.
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    assert (queries.task_numbers(task).issues, queries.task_numbers(qa).rework) == (0, 0)
    assert counters.find_drift() == []
