"""Ground truth, honeypots mixed in at a rate, scores per task and project, and the pause rule."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.annotation.models import Pause, TaskItem, TaskType
from taskboard.annotation.people import WorkRefused, is_paused, pause_person, resume_person
from taskboard.dashboards.queries import people_scorecards
from taskboard.datasets.models import Annotation, Label
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
    # The rule's pause stops work, not only new items: in a distributed task the person holds all of
    # theirs already, and would go on spoiling them.
    assert pause.stops_work
    with pytest.raises(WorkRefused, match="paused in this task until a manager resumes you"):
        flow.item_status_set(task=task, item=bob_rows[3].item, status="completed", by=annotator)
    assert TaskItem.objects.get(pk=bob_rows[3].pk).status is None
    resume_person(project=task.project, user=annotator, by=manager, task=task)
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


def test_a_stopped_person_is_told_why_on_the_work_page(client, make_task, manager, annotator, annotator2):
    task = make_task(assignees=[annotator, annotator2], folder="/city")
    row = held(task, annotator)[0]
    # A manager's own pause only keeps new items away; the rule's (or a stopping one) stops work.
    pause_person(project=task.project, user=annotator, by=manager, task=task, reason="Look first.")
    pause_person(project=task.project, user=annotator, by=None, task=task, reason="Score 20%.", stops_work=True)
    assert Pause.objects.get(user=annotator, task=task).stops_work
    client.force_login(annotator)
    before = client.get(reverse("work:item", args=[row.assignment_id, row.pk])).content.decode()
    assert 'id="stopped"' in before and 'data-record=""' in before
    url = reverse("work:item-status", args=[row.assignment_id, row.pk])
    page = client.post(url, {"status": "completed"}, follow=True).content.decode()
    assert "paused in this task until a manager resumes you. Score 20%." in page
    assert TaskItem.objects.get(pk=row.pk).status is None
    resume_person(project=task.project, user=annotator, by=manager, task=task)
    after = client.get(reverse("work:item", args=[row.assignment_id, row.pk])).content.decode()
    assert 'id="stopped"' not in after and 'data-record="1"' in after


def test_my_work_marks_where_a_stop_holds_the_person(client, make_task, manager, annotator, annotator2):
    """A stop in one task marks that task; a stop across the project marks every task of it; a
    manager's plain pause (no new items only) marks none."""
    city = make_task("City", assignees=[annotator, annotator2], folder="/city")
    highway = make_task("Highway", assignees=[annotator, annotator2], folder="/highway")
    client.force_login(annotator)
    my_work = reverse("work:my-work")
    pause_person(project=city.project, user=annotator, by=manager, task=highway, reason="Look first.")
    assert 'data-gate="stopped"' not in client.get(my_work).content.decode()
    pause_person(project=city.project, user=annotator, by=None, task=city, reason="Score 20%.", stops_work=True)
    rows = client.get(my_work).content.decode().split("<tr")
    assert [row for row in rows if 'data-gate="stopped"' in row] == [row for row in rows if f">{city.name}<" in row]
    pause_person(project=city.project, user=annotator, by=None, reason="Score 10%.", stops_work=True)
    assert client.get(my_work).content.decode().count('data-gate="stopped"') == 2
    client.force_login(annotator2)
    assert 'data-gate="stopped"' not in client.get(my_work).content.decode()


def test_a_stopped_person_chooses_no_label_either(client, make_task, manager, annotator, recipe):
    """Labels are part of the answer a stopping pause protects: the gate that refuses a status refuses
    a label, in the service and on the work page, with the reason."""
    task = make_task(assignees=[annotator], folder="/city")
    row = held(task, annotator)[0]
    car = Label.objects.get(recipe=recipe, name="car")
    pause_person(project=task.project, user=annotator, by=manager, task=task, reason="Score 20%.", stops_work=True)
    with pytest.raises(WorkRefused, match="until a manager resumes you"):
        work.item_label_toggle(task_item=row, label=car, by=annotator)
    client.force_login(annotator)
    response = client.post(
        reverse("work:item-label", args=[row.assignment_id, row.pk]), {"label": car.pk}, follow=True
    )
    assert response.status_code == 200 and "until a manager resumes you. Score 20%." in response.content.decode()
    assert not Annotation.objects.filter(task=task, item_id=row.item_id).exists()
    resume_person(project=task.project, user=annotator, by=manager, task=task)
    assert work.item_label_toggle(task_item=row, label=car, by=annotator) is not None
