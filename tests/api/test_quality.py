"""A task's quality gates and honeypot scores through the API."""

from django.urls import reverse

from taskboard.annotation.models import TaskItem, TaskType
from taskboard.annotation.people import pause_person
from taskboard.annotation.selection import Selection
from taskboard.api.ids import api_id
from taskboard.quality import qualification
from taskboard.quality import services as quality_services
from taskboard.quality.models import GroundTruth, TaskQuality
from taskboard.work import flow
from tests.factories import create_task

COMPLETED = {"operation": "create", "status": "completed"}


def test_read_and_set_a_tasks_gates(api, manager, annotator, dataset, recipe, items):
    task = create_task(
        dataset=dataset, created_by=manager, name="Gated", selection=Selection(mode="all"), assignees=[annotator]
    )
    first = task.task_items.select_related("item").order_by("rank").first()
    GroundTruth.objects.create(project=task.project, item=first.item, status="discard")
    flow.item_status_set(task=task, item=first.item, status="completed", by=annotator)
    path = f"/api/v1/annotationtasks/{api_id('task', task.pk)}/quality"
    body = api(manager).get(path).json()
    assert (body["honeypotRate"], body["pauseBelow"], body["honeypots"]) == (0, None, 0)
    assert body["scores"] == [{"userId": annotator.email, "answered": 1, "right": 0, "score": 0.0, "paused": False}]
    changed = api(manager).patch(path, {"honeypotRate": 5, "pauseBelow": 80, "pauseAfter": 20}).json()
    assert (changed["honeypotRate"], changed["pauseBelow"], changed["pauseAfter"]) == (5, 80, 20)
    bad = api(manager).patch(path, {"honeypotRate": 70})
    assert bad.status_code == 400 and "honeypot" in bad.json()["message"].lower()
    assert api(manager).patch(path, {"pauseAfter": "x"}).status_code == 400
    assert api(annotator).get(path).status_code in (403, 404)
    gated = api(manager).patch(path, {"qualification": {"items": 1, "passMark": 100, "attempts": 3}}).json()
    assert gated["qualification"] == {"items": 1, "passMark": 100, "attempts": 3, "people": []}
    too_many = api(manager).patch(path, {"qualification": {"items": 5}})
    assert too_many.status_code == 400 and "ground-truth" in too_many.json()["message"]


def _gated(manager, annotator, dataset, items, **kwargs):
    """A task over /city whose qualification is both highway truths (completed), 100% to pass."""
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="Gated",
        selection=Selection(mode="folder", folder="/city"),
        assignees=[annotator],
        **kwargs,
    )
    truth = [i for i in items if i.dir == "/highway"][:2]
    GroundTruth.objects.bulk_create(GroundTruth(project=task.project, item=i, status="completed") for i in truth)
    qualification.qualification_update(task=task, by=manager, items=2, pass_mark=100, attempts=1)
    return task


def _first_held(task, user):
    return TaskItem.objects.filter(task=task, assignment__assignee=user).order_by("rank").first()


def _status_routes(task, row):
    """The API's two ways to set `row`'s status: the task's bulk route and the assignment's own."""
    tid, iid = api_id("task", task.pk), api_id("item", row.item_id)
    bulk = (f"/api/v1/assignments/items/tasks/{tid}/status", {"itemIds": [iid], "statusPayload": COMPLETED})
    one = (f"/api/v1/assignments/{api_id('assignment', row.assignment_id)}/items/{iid}/status", COMPLETED)
    return bulk, one


def _refused_on_both_routes(client, task, row, message):
    for path, body in _status_routes(task, row):
        response = client.post(path, body)
        assert response.status_code == 403 and message in response.json()["message"], path
    row.refresh_from_db()
    assert row.status is None


def test_no_status_through_the_api_before_passing_the_qualification(api, manager, annotator, dataset, items):
    task = _gated(manager, annotator, dataset, items)
    row = _first_held(task, annotator)
    _refused_on_both_routes(api(annotator), task, row, "needs a qualification first: 2 items")
    attempt = qualification.attempt_start(task=task, user=annotator, seed=1)
    qualification.attempt_submit(
        attempt=attempt, by=annotator, answers={i: ("completed", []) for i in attempt.item_ids}
    )
    (bulk_path, body), (one_path, _) = _status_routes(task, row)
    assert api(annotator).post(bulk_path, body).status_code == 200
    row.refresh_from_db()
    assert row.status == "completed"
    assert api(annotator).post(one_path, {"operation": "delete"}).status_code == 200


def test_next_work_passes_over_a_task_whose_qualification_is_not_passed(
    client, api, manager, annotator, dataset, items
):
    task = _gated(manager, annotator, dataset, items, batch_size=3, max_batch_workload=6)
    held = TaskItem.objects.filter(task=task, assignment__assignee=annotator).count()
    assert api(annotator).post("/api/v1/pulling/next", {}).json() == {"taskId": None, "claimed": 0}
    client.force_login(annotator)
    page = client.post(reverse("work:next-work"), follow=True).content.decode()
    assert TaskItem.objects.filter(task=task, assignment__assignee=annotator).count() == held
    # The page says why the waiting queue gave nothing.
    assert "Gated: This task needs a qualification first: 2 items" in page


def test_a_qa_tasks_honeypot_rate_is_its_review_honeypot_rate(api, manager, annotator, reviewer, dataset, items):
    task = create_task(
        dataset=dataset, created_by=manager, name="Cars", selection=Selection(mode="all"), assignees=[annotator]
    )
    qa = create_task(
        dataset=dataset,
        created_by=manager,
        name="Cars QA",
        selection=Selection(mode="all"),
        assignees=[reviewer],
        task_type=TaskType.QA,
        parent=task,
        empty=True,
    )
    path = f"/api/v1/annotationtasks/{api_id('task', qa.pk)}/quality"
    assert api(manager).patch(path, {"honeypotRate": 20}).json()["honeypotRate"] == 20
    assert TaskQuality.objects.get(task=qa).honeypot_rate == 20
    assert api(manager).patch(path, {"honeypotRate": 51}).status_code == 400


def test_a_manager_holding_no_item_of_a_gated_task_is_told_only_the_holder_sets_a_status(
    api, manager, annotator, dataset, items
):
    """The holder rule comes before the qualification: a manager who holds nothing in the task (and
    never took its qualification) is told that only the holder decides, not to qualify first."""
    task = _gated(manager, annotator, dataset, items)
    _refused_on_both_routes(api(manager), task, _first_held(task, annotator), "Only the assignee holding")


def _watched(manager, annotator, dataset):
    """A task over /city with no gate of its own yet: its quality rule is what the test sets."""
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="Watched",
        selection=Selection(mode="folder", folder="/city"),
        assignees=[annotator],
    )


def test_a_quality_pause_stops_status_writes_through_the_api(api, manager, annotator, dataset, items):
    task = _watched(manager, annotator, dataset)
    pause_person(project=task.project, user=annotator, by=None, task=task, reason="Score 20%.", stops_work=True)
    _refused_on_both_routes(
        api(annotator), task, _first_held(task, annotator), "until a manager resumes you. Score 20%."
    )


def test_a_pause_that_falls_mid_request_keeps_what_was_set_and_answers_it(api, manager, annotator, dataset, items):
    """A honeypot answered wrong in a bulk request pauses the person there: the statuses set before it
    stay set and are answered (no 403 over written rows); the items after it are missing."""
    task = _watched(manager, annotator, dataset)
    rows = list(TaskItem.objects.filter(task=task).select_related("item").order_by("item__dir", "item__name"))
    honeypot, after = rows[0], rows[1]  # the API works through the items in the dataset's order
    GroundTruth.objects.create(project=task.project, item=honeypot.item, status="completed")
    quality_services.task_quality_update(task=task, by=manager, honeypot_rate=0, pause_below=60, pause_after=1)
    ids = [api_id("item", row.item_id) for row in (honeypot, after)]
    response = api(annotator).post(
        f"/api/v1/assignments/items/tasks/{api_id('task', task.pk)}/status",
        {"itemIds": ids, "statusPayload": {"operation": "create", "status": "discard"}},
    )
    assert response.status_code == 200 and list(response.json()) == ids[:1]
    honeypot.refresh_from_db(), after.refresh_from_db()
    assert (honeypot.status, after.status) == ("discard", None)
    _refused_on_both_routes(api(annotator), task, after, "until a manager resumes you")
