import pytest
from django.urls import reverse

from taskboard.annotation import services
from taskboard.annotation.models import TaskItem
from taskboard.dashboards import queries
from taskboard.datasets.models import Label
from taskboard.work import services as work


def test_agreement_shows_on_consensus_tasks_only(client, make_task, manager, annotator, annotator2, recipe):
    task = make_task(
        assignees=[annotator, annotator2], folder="/highway", consensus_percentage=100, consensus_assignees=2
    )
    car, person = Label.objects.get(recipe=recipe, name="car"), Label.objects.get(recipe=recipe, name="person")
    rows = TaskItem.objects.filter(task=task, copy__gt=0).select_related("assignment", "item").order_by("item_id")
    by_item = {}
    for row in rows:
        by_item.setdefault(row.item_id, []).append(row)
    (a, b), (c, d) = list(by_item.values())[:2]
    for row, label in ((a, car), (b, car), (c, car), (d, person)):
        work.item_label_toggle(task_item=row, label=label, by=row.assignment.assignee)
        services.item_status_set(
            task=task, item=row.item, status="completed", by=row.assignment.assignee, copy=row.copy
        )
    consensus = queries.task_numbers(task).consensus
    assert consensus.items == 2 and consensus.agreement == pytest.approx(0.75) and consensus.low == 0
    client.force_login(manager)
    page = client.get(reverse("dashboards:task", args=[task.pk])).content.decode()
    assert 'id="agreement">75%<' in page and "2 items scored" in page
    assert "Least agreed" in page and ": 50% of 2</li>" in page


def test_no_agreement_figure_without_consensus(make_task, annotator):
    assert queries.task_numbers(make_task(assignees=[annotator])).consensus is None
