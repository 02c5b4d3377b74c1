"""Ground truth, honeypots mixed in at a rate, scores per task and project, and the pause rule."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.annotation.models import Pause, TaskItem, TaskType
from taskboard.annotation.people import is_paused
from taskboard.dashboards.queries import people_scorecards
from taskboard.datasets.models import Label
from taskboard.notifications.models import Notification
from taskboard.quality import honeypots, queries, services
from taskboard.quality.models import GroundTruth, GroundTruthAnswer, Honeypot
from taskboard.work import flow
from taskboard.work import services as work
from tests.quality.conftest import held

# The task quality form as the page posts it, no gate on.
GATES = {
    "honeypot_rate": "0",
    "pause_below": "",
    "pause_after": "5",
    "qualification_items": "0",
    "qualification_pass": "80",
    "qualification_attempts": "2",
}


def _truth(project, items, status="completed", labels=()):
    GroundTruth.objects.bulk_create(
        GroundTruth(project=project, item=item, status=status, labels=sorted(labels)) for item in items
    )


def test_truth_from_a_qa_task_takes_the_reviewed_answer(make_task, manager, annotator, reviewer, recipe):
    task = make_task(assignees=[annotator], folder="/city/day")
    car = Label.objects.get(recipe=recipe, name="car")
    first, second = held(task, annotator)[:2]
    work.item_label_toggle(task_item=first, label=car, by=annotator)
    for row in (first, second):
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    qa = make_task("Cars QA", assignees=[reviewer], task_type=TaskType.QA, parent=task, folder="/city/day")
    qa_row = TaskItem.objects.get(task=qa, item=first.item)
    flow.item_status_set(task=qa, item=qa_row.item, status="approved", by=reviewer)
    assert honeypots.ground_truth_from_task(task=qa, status="approved", by=manager) == 1
    truth = GroundTruth.objects.get()
    assert (truth.item_id, truth.status, truth.labels) == (first.item_id, "completed", ["car"])
    with pytest.raises(ValidationError):
        honeypots.ground_truth_from_task(task=qa, status="approved", by=annotator)
    with pytest.raises(ValidationError, match="No item has the status"):
        honeypots.ground_truth_from_task(task=qa, status="discard", by=manager)


def test_honeypots_join_at_the_rate_at_random_places(make_task, manager, annotator, annotator2, items):
    task = make_task(assignees=[annotator, annotator2], folder="/city/day")  # 12 items
    highway = [i for i in items if i.dir == "/highway"]
    _truth(task.project, highway)
    services.task_quality_update(task=task, by=manager, honeypot_rate=20, pause_below=None, pause_after=5)
    # 20% of the task: h / (12 + h) = 0.2 → 3.
    assert honeypots.honeypots_mix(task=task, by=manager, seed=1) == 3
    assert honeypots.honeypots_mix(task=task, by=manager, seed=1) == 0
    mixed = set(Honeypot.objects.filter(task=task).values_list("item_id", flat=True))
    assert len(mixed) == 3 and mixed <= {i.pk for i in highway}
    rows = TaskItem.objects.filter(task=task, item_id__in=mixed)
    assert all(r.assignment.assignee_id in (annotator.pk, annotator2.pk) for r in rows)
    # Placed among the task's own items, not appended after them.
    regular = TaskItem.objects.filter(task=task).exclude(item_id__in=mixed)
    low, high = min(r.rank for r in regular), max(r.rank for r in regular)
    assert all(low <= r.rank <= high for r in rows)


def test_mixing_needs_a_rate_and_truth_left(make_task, manager, annotator):
    task = make_task(assignees=[annotator], folder="/city/day")
    with pytest.raises(ValidationError, match="Set a honeypot rate"):
        honeypots.honeypots_mix(task=task, by=manager)
    services.task_quality_update(task=task, by=manager, honeypot_rate=10, pause_below=None, pause_after=5)
    with pytest.raises(ValidationError, match="No ground-truth item"):
        honeypots.honeypots_mix(task=task, by=manager)
    with pytest.raises(ValidationError) as error:
        services.task_quality_update(task=task, by=manager, honeypot_rate=60, pause_below=120, pause_after=0)
    assert set(error.value.message_dict) == {"honeypot_rate", "pause_below", "pause_after"}


def test_answers_are_scored_and_a_low_score_pauses(make_task, manager, annotator, annotator2, recipe):
    task = make_task(assignees=[annotator, annotator2], folder="/city")
    bob_rows = held(task, annotator)
    car = Label.objects.get(recipe=recipe, name="car")
    _truth(task.project, [r.item for r in bob_rows[:4]], labels=["car"])
    services.task_quality_update(task=task, by=manager, honeypot_rate=0, pause_below=60, pause_after=3)
    # Right: completed with the car label. Wrong: no label; wrong: discarded.
    work.item_label_toggle(task_item=bob_rows[0], label=car, by=annotator)
    flow.item_status_set(task=task, item=bob_rows[0].item, status="completed", by=annotator)
    flow.item_status_set(task=task, item=bob_rows[1].item, status="completed", by=annotator)
    assert not is_paused(user=annotator, task=task)  # 1 of 2, under the minimum count
    flow.item_status_set(task=task, item=bob_rows[2].item, status="discard", by=annotator)
    assert is_paused(user=annotator, task=task)  # 1 of 3 = 33% < 60%
    pause = Pause.objects.get(user=annotator, task=task)
    assert "33%" in pause.reason
    told = set(Notification.objects.filter(kind="paused").values_list("recipient_id", flat=True))
    assert {annotator.pk, manager.pk} <= told
    (score,) = queries.scores(task=task)
    assert (score.answered, score.right, score.paused) == (3, 1, True)
    # A cleared status withdraws the answer.
    flow.item_status_clear(task=task, item=bob_rows[2].item, by=annotator)
    assert GroundTruthAnswer.objects.filter(user=annotator).count() == 2
    (project_score,) = queries.scores(project=task.project)
    assert project_score.rate == pytest.approx(0.5)
    # The annotators' scorecard shows it too.
    bob = next(c for c in people_scorecards(task.project) if c.email == annotator.email)
    assert (bob.honeypots_right, bob.honeypots_answered, bob.honeypot_score) == (1, 2, 0.5)


def test_quality_pages_for_the_manager(client, make_task, manager, annotator, items):
    task = make_task(assignees=[annotator], folder="/city/day")
    for row in held(task, annotator)[:2]:
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    client.force_login(manager)
    project_url = reverse("quality:project", args=[task.project_id])
    response = client.post(
        reverse("quality:ground-truth", args=[task.project_id]), {"task": task.pk, "status": "completed"}
    )
    assert response.status_code == 302
    assert "2 items are ground truth now" in client.get(project_url).content.decode()
    url = reverse("quality:task", args=[task.pk])
    assert client.post(url, {**GATES, "honeypot_rate": "10", "pause_below": "70"}).status_code == 302
    page = client.get(url).content.decode()
    assert 'value="10"' in page and "0 honeypots in this task" in page
    assert "Quality gates" in client.get(reverse("dashboards:task-detail", args=[task.pk])).content.decode()
    client.force_login(annotator)
    assert client.get(url).status_code == 404
