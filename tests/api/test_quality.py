"""A task's quality gates and honeypot scores through the API."""

from taskboard.annotation.selection import Selection
from taskboard.api.ids import api_id
from taskboard.quality.models import GroundTruth
from taskboard.work import flow
from tests.factories import create_task


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
