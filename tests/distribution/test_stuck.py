"""Stuck work: distributed items untouched past the task's limit are flagged, handed on by the rule,
the holder and the managers told; the panel lists them; page, API and admin."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from taskboard.annotation.models import AnnotationTask, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.api.ids import api_id
from taskboard.notifications.models import Notification
from taskboard.work import flow, services, stuck
from taskboard.work.models import StuckItem, StuckPolicy
from taskboard.work.tasks import sweep_stuck_work
from tests.annotation.conftest import assert_counters
from tests.factories import create_task, make_items


@pytest.fixture
def given(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/s": 6})
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="given",
        selection=Selection(mode="folder", folder="/s"),
        assignees=[annotator, annotator2],
    )
    # The task (and its creation records) are three hours old.
    past = timezone.now() - datetime.timedelta(hours=3)
    AnnotationTask.objects.filter(pk=task.pk).update(created_at=past)
    task.changes.update(at=past)
    task.refresh_from_db()
    return task


def test_untouched_items_are_flagged_and_people_told(given, manager, annotator, annotator2):
    stuck.stuck_policy_set(task=given, after_hours=2, action="flag", by=manager)
    rows = list(TaskItem.objects.filter(task=given, assignment__assignee=annotator).order_by("rank"))
    flow.item_status_set(task=given, item=rows[0].item, status="completed", by=annotator)
    services.item_time_beat(task_item=rows[1], by=annotator, marks_ago_ms=[3000, 0])
    assert sweep_stuck_work() == 4  # bob's third item, carol's three
    flagged = set(StuckItem.objects.values_list("item_id", flat=True))
    assert rows[0].item_id not in flagged and rows[1].item_id not in flagged and rows[2].item_id in flagged
    told = set(Notification.objects.filter(kind="stuck").values_list("recipient__email", flat=True))
    assert {annotator.email, annotator2.email, manager.email} <= told
    assert stuck.stuck_sweep_task(task=given).flagged == 0  # flagged once
    flow.item_status_set(task=given, item=rows[2].item, status="completed", by=annotator)
    assert stuck.stuck_resolve_touched() == 1
    assert stuck.stuck_items(task=given).count() == 3


def test_the_rule_hands_stuck_items_on(given, manager, annotator, annotator2):
    flow.item_status_set(
        task=given,
        item=TaskItem.objects.filter(task=given, assignment__assignee=annotator2).order_by("rank").first().item,
        status="completed",
        by=annotator2,
    )
    stuck.stuck_policy_set(task=given, after_hours=2, action="manager", by=manager)
    swept = stuck.stuck_sweep_task(task=given)
    assert (swept.flagged, swept.moved) == (5, 5)
    assert TaskItem.objects.filter(task=given, assignment__assignee=manager).count() == 5
    assert stuck.stuck_items(task=given).count() == 0  # handed on: resolved
    assert_counters(given)


def test_policy_input_is_checked(given, pulling_task, manager):
    with pytest.raises(ValidationError, match="1 to 720"):
        stuck.stuck_policy_set(task=given, after_hours=0, action="flag", by=manager)
    with pytest.raises(ValidationError, match="Choose one of"):
        stuck.stuck_policy_set(task=given, after_hours=3, action="shred", by=manager)
    with pytest.raises(ValidationError, match="distributed"):
        stuck.stuck_policy_set(task=pulling_task, after_hours=3, action="flag", by=manager)


def test_stuck_panel_and_task_page(client, given, project, manager, annotator):
    client.force_login(manager)
    client.post(reverse("dashboards:task-stuck-policy", args=[given.pk]), {"after_hours": 2, "action": "flag"})
    client.post(reverse("dashboards:task-stuck-sweep", args=[given.pk]))
    page = client.get(reverse("dashboards:stuck-panel", args=[project.pk])).content.decode()
    assert page.count("data-stuck=") == 6
    task_page = client.get(reverse("dashboards:task-detail", args=[given.pk])).content.decode()
    assert 'id="task-stuck"' in task_page and "idle since" in task_page
    client.force_login(annotator)
    assert client.get(reverse("dashboards:stuck-panel", args=[project.pk])).status_code == 404


def test_stuck_api(api, given, manager, annotator):
    path = f"/api/v1/annotationtasks/{api_id('task', given.pk)}/stuck"
    assert api(manager).put(path, {"afterHours": 2, "action": "requeue"}).json()["afterHours"] == 2
    swept = api(manager).post(path + "/sweep", {}).json()
    # Each holder's items go to the other: all six are handed on.
    assert swept["flagged"] == 6 and swept["handedOn"] == 6
    assert api(manager).put(path, {"afterHours": 0}).status_code == 400
    assert api(annotator).get(path).status_code == 403


def test_a_pulling_task_says_its_leases_recover_untouched_work(client, api, pulling_task, given, project, manager):
    """Stuck-work recovery covers distributed tasks; a pulling task's panel, page and API say that its
    leases return untouched batches, rather than showing nothing unexplained."""
    client.force_login(manager)
    panel = client.get(reverse("dashboards:stuck-panel", args=[project.pk])).content.decode()
    assert f'data-pulling="{pulling_task.pk}"' in panel and "when its lease runs out" in panel
    assert "held batches return 60 minutes after their holder last worked on them" in panel
    # The distributed task has no rule yet: listed as such, so an empty list is explained too.
    assert f'data-no-rule="{given.pk}"' in panel
    stuck.stuck_policy_set(task=given, after_hours=2, action="flag", by=manager)
    panel = client.get(reverse("dashboards:stuck-panel", args=[project.pk])).content.decode()
    assert f'data-no-rule="{given.pk}"' not in panel
    task_page = client.get(reverse("dashboards:task-detail", args=[pulling_task.pk])).content.decode()
    assert 'id="task-stuck"' in task_page and "needs no stuck-work rule" in task_page
    assert reverse("annotation:task-leases", args=[pulling_task.pk]) in task_page
    refused = client.post(
        reverse("dashboards:task-stuck-policy", args=[pulling_task.pk]),
        {"after_hours": 2, "action": "flag"},
        follow=True,
    )
    assert "goes back to the queue when its lease runs out (60 minutes" in refused.content.decode()
    path = f"/api/v1/annotationtasks/{api_id('task', pulling_task.pk)}/stuck"
    answer = api(manager).get(path).json()
    assert answer["recoveredBy"] == "leases" and answer["leaseMinutes"] == 60 and answer["items"] == []
    put = api(manager).put(path, {"afterHours": 2, "action": "flag"})
    assert put.status_code == 400 and "lease runs out" in put.json()["message"]
    given_answer = api(manager).get(f"/api/v1/annotationtasks/{api_id('task', given.pk)}/stuck").json()
    assert given_answer["recoveredBy"] == "rule" and given_answer["leaseMinutes"] is None


def test_admin_sets_the_rule_and_sweeps_through_the_service(admin_client, given, pulling_task, manager):
    add = reverse("admin:work_stuckpolicy_add")
    page = admin_client.post(add, {"task": pulling_task.pk, "after_hours": 2, "action": "flag"})
    assert "A pulling task needs no rule" in page.content.decode()
    assert not StuckPolicy.objects.exists()
    admin_client.post(add, {"task": given.pk, "after_hours": 2, "action": "flag"})
    policy = StuckPolicy.objects.get(task=given)
    admin_client.post(
        reverse("admin:work_stuckpolicy_changelist"), {"action": "sweep_now", "_selected_action": [policy.pk]}
    )
    assert StuckItem.objects.filter(task=given, resolved_at__isnull=True).count() == 6
    admin_client.post(reverse("admin:work_stuckpolicy_delete", args=[policy.pk]), {"post": "yes"})
    assert not StuckPolicy.objects.exists()
