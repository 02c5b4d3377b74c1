"""Task items have no per-row foreign keys; triggers keep them honest on both databases."""

import pytest
from django.db import IntegrityError, connection, transaction

from taskboard.annotation.models import Assignment, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.work import flow
from tests.factories import DatasetFactory, RecipeFactory, create_task, in_days, make_items

COLUMNS = "(task_id, item_id, assignment_id, copy, rank, in_queue, rework, comment)"


@pytest.fixture
def task(dataset, items, manager, annotator):
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="t",
        due_at=in_days(3),
        selection=Selection(mode="all"),
        assignees=[annotator],
    )


def raw_insert(task_id, item_id, assignment_id, copy=5):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO annotation_taskitem {COLUMNS} VALUES (%s, %s, %s, %s, 0, %s, %s, '')",
            [task_id, item_id, assignment_id, copy, False, False],
        )


def test_a_valid_raw_row_is_accepted(task, items):
    assignment = Assignment.objects.get(task=task)
    raw_insert(task.pk, items[0].pk, assignment.pk, copy=7)
    assert TaskItem.objects.filter(task=task, copy=7).count() == 1


@pytest.mark.parametrize("broken", ["item", "task", "assignment", "foreign_assignment", "foreign_item"])
def test_a_dangling_raw_row_is_refused(project, task, items, manager, annotator, broken):
    assignment = Assignment.objects.get(task=task)
    task_id, item_id, assignment_id = task.pk, items[0].pk, assignment.pk
    if broken == "item":
        item_id = 10**9
    elif broken == "task":
        task_id = 10**9
    elif broken == "assignment":
        assignment_id = 10**9
    elif broken == "foreign_assignment":
        other = create_task(
            dataset=task.dataset,
            created_by=manager,
            name="t2",
            due_at=in_days(3),
            selection=Selection(mode="all"),
            assignees=[annotator],
        )
        assignment_id = Assignment.objects.get(task=other).pk
    elif broken == "foreign_item":
        other = DatasetFactory(project=project, name="other")
        RecipeFactory(dataset=other)
        item_id = make_items(other, {"/o": 1})[0].pk
    with pytest.raises(IntegrityError):
        raw_insert(task_id, item_id, assignment_id)


def test_a_raw_update_to_a_missing_assignment_is_refused(task):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE annotation_taskitem SET assignment_id = %s WHERE task_id = %s", [10**9, task.pk])


def test_a_raw_status_by_of_a_missing_user_is_refused(task):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE annotation_taskitem SET status_by_id = %s WHERE task_id = %s", [10**9, task.pk])


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["datasets_item", "annotation_assignment", "annotation_annotationtask"])
def test_postgres_refuses_raw_deletes_of_referenced_rows(task, table):
    if connection.vendor != "postgresql":
        pytest.skip("statement-level delete checks are PostgreSQL's")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")


def test_orm_deletes_still_work(task, items, annotator):
    flow.item_status_set(task=task, item=items[0], status="completed", by=annotator)
    items[1].delete()
    assert not TaskItem.objects.filter(item_id=items[1].pk).exists()
    task.dataset.delete()
    assert not TaskItem.objects.exists()


@pytest.mark.postgres
def test_postgres_checks_large_statements_too(task, dataset):
    if connection.vendor != "postgresql":
        pytest.skip("the large-statement path is PostgreSQL's")
    make_items(dataset, {"/big": 6000})
    assignment = Assignment.objects.get(task=task)
    big = "SELECT id FROM datasets_item WHERE dir = '/big'"
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        # 6,001 rows, one of them dangling: past the threshold where the check hashes.
        cursor.execute(
            f"INSERT INTO annotation_taskitem {COLUMNS} SELECT %s, x.id, %s, 0, 0, false, false, '' "
            f"FROM ({big} UNION ALL SELECT %s) x",
            [task.pk, assignment.pk, 10**9],
        )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO annotation_taskitem {COLUMNS} SELECT %s, x.id, %s, 0, 0, false, false, '' FROM ({big}) x",
            [task.pk, assignment.pk],
        )
    assert TaskItem.objects.filter(task=task, item__dir="/big").count() == 6000
