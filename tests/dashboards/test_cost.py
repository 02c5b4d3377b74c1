"""Cost per accepted item (active time × rate ÷ accepted) per person, task and project; payroll CSV."""

import csv
import datetime
import io
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from taskboard.annotation.models import TaskItem, TaskType
from taskboard.dashboards.cost import cost_report
from taskboard.quality import services as quality
from taskboard.work import flow
from taskboard.work import services as work
from tests.dashboards.conftest import held_items


def _work(task, user, items, *, minutes, start):
    """`user` is active on `items` for `minutes` in all (a mark a minute), then finishes them."""
    rows = [TaskItem.objects.select_related("assignment", "task").get(task=task, item=i) for i in items]
    work.item_time_beat(task_item=rows[0], by=user, marks_ago_ms=[0], now=start)
    for m in range(1, minutes + 1):
        work.item_time_beat(
            task_item=rows[m % len(rows)], by=user, marks_ago_ms=[0], now=start + datetime.timedelta(minutes=m)
        )
    for item in items:
        flow.item_status_set(task=task, item=item, status="completed", by=user)


def test_cost_per_accepted_item(client, make_task, manager, annotator, annotator2, reviewer):
    task = make_task(assignees=[annotator, annotator2], folder="/city/day")
    project = task.project
    quality.project_pay_update(project=project, by=manager, default_hourly_rate=Decimal("12"), currency="eur")
    quality.pay_rate_set(project=project, user=annotator, by=manager, hourly_rate=Decimal("30"))
    start = timezone.now() - datetime.timedelta(hours=2)
    bob, carol = held_items(task, annotator), held_items(task, annotator2)
    _work(task, annotator, bob[:4], minutes=60, start=start)  # 1 h at 30 = 30.00
    _work(task, annotator2, carol[:3], minutes=30, start=start)  # 0.5 h at 12 = 6.00
    qa = make_task("QA", assignees=[reviewer], task_type=TaskType.QA, parent=task, folder="/city/day")
    row = TaskItem.objects.select_related("assignment", "task", "item").get(task=qa, item=bob[0])
    flow.item_reject(qa_task_item=row, comment="loose", by=reviewer)

    report = cost_report(project)
    people = {r.label: r for r in report.people}
    b = people["bob@example.com"]
    assert (round(b.hours, 2), b.accepted, b.rejected, b.items, b.cost) == (1.0, 3, 1, 4, Decimal("30.00"))
    assert b.per_accepted == Decimal("10.00")
    c = people["carol@example.com"]
    assert (c.accepted, c.cost, c.per_accepted) == (3, Decimal("6.00"), Decimal("2.00"))
    (cars,) = report.tasks
    assert (cars.label, cars.accepted, cars.cost, cars.per_accepted) == ("Cars", 6, Decimal("36.00"), Decimal("6.00"))
    assert (report.total.cost, report.currency) == (Decimal("36.00"), "EUR")
    # A period with nothing in it.
    empty = cost_report(project, since=timezone.localdate() + datetime.timedelta(days=1))
    assert empty.people == [] and empty.total.cost == 0

    client.force_login(manager)
    page = client.get(reverse("dashboards:cost", args=[project.pk])).content.decode()
    assert "36.00 EUR" in page and "6.00 EUR" in page
    body = client.get(reverse("dashboards:payroll-csv", args=[project.pk])).content.decode()
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(body))}
    assert (rows["bob@example.com"]["hours"], rows["bob@example.com"]["cost"]) == ("1.0", "30.00")
    assert rows["carol@example.com"]["hourly rate"] == "12.00"
    client.force_login(annotator)
    assert client.get(reverse("dashboards:payroll-csv", args=[project.pk])).status_code == 404


def test_pay_settings_on_the_quality_page(client, project, manager, annotator):
    client.force_login(manager)
    url = reverse("quality:pay-settings", args=[project.pk])
    client.post(url, {"default_hourly_rate": "15.50", "currency": "usd"})
    client.post(reverse("quality:pay-rate", args=[project.pk]), {"user": annotator.pk, "hourly_rate": "22"})
    page = client.get(reverse("quality:project", args=[project.pk])).content.decode()
    assert 'value="15.50"' in page and 'value="22.00"' in page
    response = client.post(url, {"default_hourly_rate": "1", "currency": "dollars"}, follow=True)
    assert "three-letter" in response.content.decode()
    client.post(reverse("quality:pay-rate", args=[project.pk]), {"user": annotator.pk, "hourly_rate": ""})
    assert 'value="22.00"' not in client.get(reverse("quality:project", args=[project.pk])).content.decode()
