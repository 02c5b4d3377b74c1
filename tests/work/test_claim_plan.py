"""The claim query must walk the partial index of queued rows, never the primary key or the table:
with a million rows the difference is 800 claims/s against 11 (issue 4, §8)."""

import pytest
from django.db import connection

from taskboard.annotation import pulling
from taskboard.annotation.models import Assignment, StatusCount, TaskItem
from taskboard.annotation.selection import Selection
from tests.factories import create_task, in_days, make_items


@pytest.mark.postgres
def test_the_claim_query_uses_the_queue_index(dataset, recipe, manager, annotator, annotator2):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL plans only.")
    make_items(dataset, {"/q": 20_000})
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="Plan",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
        due_at=in_days(2),
        allocation="pulling",
        batch_size=10,
        max_batch_workload=20,
    )
    # Most rows already claimed, as late in a task's life: a primary-key walk would look cheap.
    TaskItem.objects.filter(task=task, rank__lt=15_000).update(in_queue=False)
    mine = Assignment.objects.get(task=task, assignee=annotator)
    TaskItem.objects.filter(assignment=mine).update(status="completed")
    StatusCount.objects.filter(assignment=mine, status="completed").update(count=mine.item_count)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TaskItem._meta.db_table}")

    captured = []

    def capture(execute, sql, params, many, context):
        if "in_queue" in sql and sql.lstrip().upper().startswith(("UPDATE", "WITH")):
            captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        assert pulling.pulling_claim(task=task, user=annotator) == 10
    assert captured, "the claim ran no UPDATE over queued rows"
    sql, params = captured[0]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "task_item_queue" in plan, plan
    assert f"Seq Scan on {TaskItem._meta.db_table}" not in plan, plan
