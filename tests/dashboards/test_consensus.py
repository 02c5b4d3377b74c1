import pytest
from django.urls import reverse

from taskboard.annotation.models import TaskItem
from taskboard.dashboards import queries
from taskboard.datasets.models import Label
from taskboard.work import flow
from taskboard.work import services as work


def test_agreement_shows_on_consensus_tasks_only(client, make_task, manager, annotator, annotator2, recipe):
    task, _ = _scored_task(make_task, annotator, annotator2, recipe)
    consensus = queries.task_numbers(task).consensus
    assert consensus.items == 2 and consensus.agreement == pytest.approx(0.75) and consensus.low == 0
    client.force_login(manager)
    page = client.get(reverse("dashboards:task", args=[task.pk])).content.decode()
    assert 'id="agreement">75%<' in page and "2 items scored" in page
    assert "Least agreed" in page and ": 50% of 2</li>" in page


def test_no_agreement_figure_without_consensus(make_task, annotator):
    assert queries.task_numbers(make_task(assignees=[annotator])).consensus is None


def _scored_task(make_task, annotator, annotator2, recipe):
    """Two consensus items on /highway-like folders: one agreed (car/car), one split (car/person)."""
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
        flow.item_status_set(task=task, item=row.item, status="completed", by=row.assignment.assignee, copy=row.copy)
    return task, (a, b, c, d)


def test_agreement_comes_from_a_tally_kept_with_the_status_changes(make_task, annotator, annotator2, recipe):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from taskboard.dashboards import counters
    from taskboard.dashboards.models import ConsensusTally

    task, (a, b, c, d) = _scored_task(make_task, annotator, annotator2, recipe)
    tally = ConsensusTally.objects.get(task=task)
    assert (tally.items, tally.agreement_sum, tally.low) == (2, pytest.approx(1.5), 0)
    assert counters.find_drift([task.pk]) == []

    with CaptureQueriesContext(connection) as run:
        consensus = queries.task_numbers(task).consensus
    assert consensus.items == 2 and consensus.agreement == pytest.approx(0.75)
    results = [q["sql"] for q in run.captured_queries if "work_consensusresult" in q["sql"]]
    # Only the five least agreed, by the index; no COUNT/AVG over one row per consensus item.
    assert len(results) == 1 and "LIMIT 5" in results[0]
    assert "COUNT(" not in results[0].upper() and "AVG(" not in results[0].upper()

    # A cleared copy withdraws its item's agreement from the tally, in the same transaction.
    flow.item_status_clear(task=task, item=c.item, by=c.assignment.assignee, copy=c.copy)
    tally.refresh_from_db()
    assert (tally.items, tally.agreement_sum) == (1, pytest.approx(1.0))
    assert queries.task_numbers(task).consensus.agreement == pytest.approx(1.0)
    assert counters.find_drift([task.pk]) == []


def test_drift_check_covers_the_consensus_tally(make_task, annotator, annotator2, recipe):
    from taskboard.dashboards import counters
    from taskboard.dashboards.models import ConsensusTally

    task, _ = _scored_task(make_task, annotator, annotator2, recipe)
    ConsensusTally.objects.filter(task=task).update(items=7, agreement_sum=0.1, low=3)
    assert sorted(d.counter for d in counters.find_drift([task.pk])) == [
        "consensus_items",
        "consensus_low",
        "consensus_sum",
    ]
    assert any(str(d) == f"task {task.pk} (task): consensus_items stored 7, actual 2" for d in counters.find_drift())
    counters.rebuild([task.pk])
    assert counters.find_drift() == []
    ConsensusTally.objects.all().delete()
    assert counters.find_drift() != []
    counters.rebuild()
    assert ConsensusTally.objects.get(task=task).items == 2


def test_the_least_agreed_are_read_through_an_index(db):
    from django.db import connection

    from taskboard.work.models import ConsensusResult

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, ConsensusResult._meta.db_table)
    indexed = [c["columns"] for c in constraints.values() if c["index"]]
    assert ["task_id", "agreement", "item_id"] in indexed


def _results(task, agreements):
    """Agreement results written directly for the task's consensus items, in item order."""
    from taskboard.work.models import ConsensusResult

    item_ids = sorted(set(TaskItem.objects.filter(task=task, copy__gt=0).values_list("item_id", flat=True)))
    ConsensusResult.objects.filter(task=task).delete()
    for item_id, agreement in zip(item_ids, agreements, strict=False):
        ConsensusResult.objects.create(task=task, item_id=item_id, agreement=agreement, copies=2, majority=["car"])
    return item_ids


def test_per_item_agreement_pages_by_keyset_least_agreed_first(make_task, annotator, annotator2):
    task = make_task(
        assignees=[annotator, annotator2], folder="/highway", consensus_percentage=100, consensus_assignees=2
    )
    item_ids = _results(task, [1.0, 0.5, 2 / 3, 0.5, 1.0, 2 / 3])
    order = sorted(zip([1.0, 0.5, 2 / 3, 0.5, 1.0, 2 / 3], item_ids, strict=True))
    seen, after, pages = [], None, 0
    while True:
        page = queries.agreement_page(task, after=after, size=4)
        seen += [(r.agreement, r.item_id) for r in page.results]
        pages += 1
        if page.next_after is None:
            break
        after = queries.parse_agreement_cursor(page.next_after)
    assert seen == order and pages == 2  # every item once, ties by item, 2/3 read back exactly
    assert queries.agreement_page(make_task(name="Plain", assignees=[annotator])).results == []


@pytest.mark.parametrize("bad", ["x", "0.5", "0.5_", "2_1", "nan_1", "inf_3", "-1_2", "0.5_-1", "0.5_1" + "0" * 70])
def test_a_bad_cursor_is_refused(bad):
    with pytest.raises(ValueError):
        queries.parse_agreement_cursor(bad)


def test_agreement_list_on_the_task_page_and_its_own(client, make_task, manager, annotator, annotator2, monkeypatch):
    import re

    from taskboard.dashboards import counters
    from taskboard.datasets.models import Item

    task = make_task(
        assignees=[annotator, annotator2], folder="/highway", consensus_percentage=100, consensus_assignees=2
    )
    item_ids = _results(task, [1.0, 0.5, 2 / 3])
    counters.rebuild([task.pk])  # the tally, as the status changes would have kept it
    names = dict(Item.objects.filter(pk__in=item_ids).values_list("pk", "filename"))
    monkeypatch.setattr(queries, "AGREEMENT_PAGE", 2)
    client.force_login(manager)

    page = client.get(reverse("dashboards:task-detail", args=[task.pk])).content.decode()
    assert "<strong>72%</strong> over 3 consensus items" in page
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">(\d+%)</td>', page)
    assert rows == [(names[item_ids[1]], "50%"), (names[item_ids[2]], "67%")]
    (next_url,) = re.findall(r'href="([^"]+agreement/\?after=[^"]+)"', page)

    fragment = client.get(next_url.replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert "<html" not in body and 'id="agreement-items"' in body
    assert re.findall(r'<th scope="row">([^<]+)</th>', body) == [names[item_ids[0]]]
    assert "Next items" not in body and "First page" in body

    full = client.get(reverse("dashboards:task-agreement", args=[task.pk]))
    assert full.status_code == 200 and "agreement per item" in full.content.decode()
    assert client.get(reverse("dashboards:task-agreement", args=[task.pk]), {"after": "nan_1"}).status_code == 400
    dashboard = client.get(reverse("dashboards:task", args=[task.pk])).content.decode()
    assert reverse("dashboards:task-agreement", args=[task.pk]) in dashboard

    client.force_login(annotator)
    assert client.get(reverse("dashboards:task-agreement", args=[task.pk])).status_code == 404
    client.force_login(manager)
    plain = make_task(name="Plain", assignees=[annotator])
    assert client.get(reverse("dashboards:task-agreement", args=[plain.pk])).status_code == 404


def test_task_csv_export_has_an_agreement_column_on_consensus_tasks(
    client, make_task, manager, annotator, annotator2, recipe
):
    import csv
    import io

    task, (a, b, c, d) = _scored_task(make_task, annotator, annotator2, recipe)
    client.force_login(manager)

    def export(t):
        response = client.get(reverse("dashboards:task-export", args=[t.pk]))
        return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    rows = export(task)
    by_item = {}
    for row in rows:
        by_item.setdefault(int(row["item_id"]), set()).add(row["agreement"])
    assert by_item[a.item_id] == {"1.0"} and by_item[c.item_id] == {"0.5"}  # originals and copies alike
    unscored = set(by_item) - {a.item_id, c.item_id}
    assert unscored and all(by_item[i] == {""} for i in unscored)
    assert "agreement" not in export(make_task(name="Plain", assignees=[annotator]))[0]
