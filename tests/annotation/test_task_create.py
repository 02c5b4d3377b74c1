import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from taskboard.annotation import pulling, rows, services
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    HoldingChange,
    TaskItem,
    TaskStatus,
    WorkloadEntry,
)
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit
from taskboard.datasets.models import Item
from taskboard.work import flow
from taskboard.work.services import pulling_queue_size
from tests.annotation.conftest import assert_counters
from tests.factories import DatasetFactory, RecipeFactory, create_task, in_days, make_items


def create(dataset, by, **kw):
    kw.setdefault("name", "t1")
    kw.setdefault("due_at", in_days(7))
    return create_task(dataset=dataset, created_by=by, **kw)


def held(task):
    """{email: [filenames in rank order]}"""
    result = {}
    for ti in TaskItem.objects.filter(task=task).select_related("assignment__assignee", "item").order_by("rank"):
        who = ti.assignment.assignee.email if ti.assignment.assignee_id else ti.assignment.kind
        result.setdefault(who, []).append(ti.item.filename)
    return result


def test_equal_split_gives_contiguous_runs_in_folder_order(dataset, items, manager, team):
    task = create(dataset, manager, selection=Selection(mode="all"), assignees=team)
    by = held(task)
    assert [len(by[u.email]) for u in team] == [11, 10, 9] or [len(by[u.email]) for u in team] == [10, 10, 10]
    ordered = [i.filename for i in Item.objects.filter(dataset=dataset).order_by("dir", "name", "id")]
    assert by["bob@example.com"] + by["carol@example.com"] + by["dave@example.com"] == ordered
    assert task.owner == manager and task.recipe.is_default and task.priority == 2
    assert sorted(TaskStatus.objects.filter(task=task).values_list("key", flat=True)) == ["completed", "discard"]
    assert list(WorkloadEntry.objects.filter(task=task).values_list("load", flat=True)) == [34, 33, 33]
    assert HoldingChange.objects.filter(task=task, kind="create").count() == 3
    assert_counters(task)


def test_thirty_items_over_three_people_split_34_33_33(dataset, items, manager, team):
    task = create(dataset, manager, selection=Selection(mode="all"), assignees=team)
    counts = [Assignment.objects.get(task=task, assignee=u).item_count for u in team]
    # 30 * 34% = 10.2, 30 * 33% = 9.9 twice: largest remainders go to the 2nd and 3rd.
    assert counts == [10, 10, 10]
    task2 = create(dataset, manager, name="t2", selection=Selection(mode="all"), assignees=team, limit=10)
    assert [Assignment.objects.get(task=task2, assignee=u).item_count for u in team] == [4, 3, 3]


@pytest.mark.parametrize("n", range(1, 8))
def test_splits_add_up_for_one_to_seven_people(project, dataset, recipe, manager, n):
    from taskboard.projects.models import Role
    from tests.factories import MembershipFactory, UserFactory

    make_items(dataset, {"/a": 23, "/b": 18})
    people = [UserFactory(email=f"p{i}@example.com") for i in range(n)]
    for p in people:
        MembershipFactory(project=project, user=p, role=Role.ANNOTATOR)
    task = create(dataset, manager, selection=Selection(mode="all"), assignees=people)
    counts = [Assignment.objects.get(task=task, assignee=p).item_count for p in people]
    assert sum(counts) == 41
    from taskboard.annotation.workload import equal_loads, split_counts

    assert counts == split_counts(41, equal_loads(n))
    assert_counters(task)


def test_workload_percentages(dataset, items, manager, annotator, annotator2):
    task = create(
        dataset,
        manager,
        selection=Selection(mode="all"),
        workload=[WorkloadUnit(annotator, 70), WorkloadUnit(annotator2, 30)],
    )
    assert Assignment.objects.get(task=task, assignee=annotator).item_count == 21
    assert Assignment.objects.get(task=task, assignee=annotator2).item_count == 9


@pytest.mark.parametrize(
    "selection, expected",
    [
        (Selection(mode="folder", folder="/city"), 20),
        (Selection(mode="folder", folder="/city", include_subfolders=False), 0),
        (Selection(mode="folder", folder="/city/day", include_subfolders=False), 10),
        (Selection(mode="annotated", annotated=True), 10),
        (Selection(mode="annotated", annotated=False), 20),
        (Selection(mode="all"), 30),
        (Selection(mode="list", filenames=("/highway/img00001.jpg", "/city/day/img00000.jpg")), 2),
        (Selection(mode="filter", dql={"$and": [{"dir": "/highway"}]}), 10),
    ],
)
def test_every_selection_mode(dataset, items, manager, annotator, selection, expected):
    if expected == 0:
        with pytest.raises(ValidationError) as e:
            create(dataset, manager, selection=selection, assignees=[annotator])
        assert "No items match" in e.value.message_dict["selection"][0]
        assert not AnnotationTask.objects.exists()
        return
    task = create(dataset, manager, selection=selection, assignees=[annotator])
    assert TaskItem.objects.filter(task=task).count() == expected
    assert_counters(task)


def test_list_by_ids_and_query_as_the_api_gives_it(dataset, items, manager, annotator):
    ids = (items[0].pk, items[5].pk)
    task = create(dataset, manager, selection=Selection(mode="list", item_ids=ids), assignees=[annotator])
    assert set(TaskItem.objects.filter(task=task).values_list("item_id", flat=True)) == set(ids)
    query = {"filter": {"$and": [{"id": {"$in": [str(i) for i in ids]}}]}, "page": 0, "pageSize": 1000}
    task2 = create(dataset, manager, name="t2", query=query, assignees=[annotator])
    assert TaskItem.objects.filter(task=task2).count() == 2 or TaskItem.objects.filter(task=task2).count() == 0


def test_unassigned_and_status_in_another_task(dataset, items, manager, annotator):
    first = create(dataset, manager, selection=Selection(mode="folder", folder="/city/day"), assignees=[annotator])
    rest = create(dataset, manager, name="t2", selection=Selection(mode="unassigned"), assignees=[annotator])
    assert TaskItem.objects.filter(task=rest).count() == 20
    flow.item_status_set(task=first, item=items[0], status="completed", by=annotator)
    again = create(
        dataset,
        manager,
        name="t3",
        selection=Selection(mode="task_status", task_id=first.pk, task_status="completed"),
        assignees=[annotator],
    )
    assert list(TaskItem.objects.filter(task=again).values_list("item_id", flat=True)) == [items[0].pk]


def test_items_of_another_dataset_are_refused(project, dataset, items, manager, annotator):
    other = DatasetFactory(project=project, name="other")
    RecipeFactory(dataset=other)
    (stranger,) = make_items(other, {"/x": 1})
    with pytest.raises(ValidationError) as e:
        create(dataset, manager, selection=Selection(mode="list", item_ids=(stranger.pk,)), assignees=[annotator])
    assert "selection" in e.value.message_dict
    assert not AnnotationTask.objects.exists()


def test_limit_takes_the_first_items_in_folder_order(dataset, items, manager, annotator):
    task = create(dataset, manager, selection=Selection(mode="all"), assignees=[annotator], limit=5)
    assert held(task)["bob@example.com"] == [f"/city/day/img{i:05d}.jpg" for i in range(5)]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"name": ""}, "name"),
        ({"due_at": timezone.now() - datetime.timedelta(minutes=1)}, "due_at"),
        ({"due_at": "tomorrow"}, "due_at"),
        ({"priority": 0}, "priority"),
        ({"priority": 4}, "priority"),
        ({"allocation": "pulling", "batch_size": 2, "max_batch_workload": 4}, "batch_size"),
        ({"allocation": "pulling", "batch_size": 101, "max_batch_workload": 103}, "batch_size"),
        ({"allocation": "pulling", "batch_size": 10, "max_batch_workload": 11}, "max_batch_workload"),
        ({"allocation": "pulling", "batch_size": 10, "max_batch_workload": 21}, "max_batch_workload"),
        ({"allocation": "pulling", "batch_size": 10}, "max_batch_workload"),
        ({"allocation": "pulling", "max_batch_workload": 15}, "batch_size"),
        ({"consensus_percentage": 101, "consensus_assignees": 2}, "consensus_percentage"),
        ({"consensus_percentage": -1, "consensus_assignees": 2}, "consensus_percentage"),
        ({"consensus_percentage": 50, "consensus_assignees": 1}, "consensus_assignees"),
        ({"consensus_percentage": 50, "consensus_assignees": 4}, "consensus_assignees"),
        ({"consensus_percentage": 50}, "consensus_assignees"),
        (
            {
                "allocation": "pulling",
                "batch_size": 10,
                "max_batch_workload": 15,
                "consensus_percentage": 50,
                "consensus_assignees": 2,
            },
            "consensus_percentage",
        ),
        ({"limit": 0}, "limit"),
        ({"statuses": [{"key": ""}]}, "statuses"),
        ({"statuses": [{"key": "a"}, {"key": "a"}]}, "statuses"),
        ({"selection": Selection(mode="folder", folder="/nowhere")}, "selection"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(dataset, items, manager, team, kwargs, field):
    kwargs.setdefault("selection", Selection(mode="all"))
    kwargs.setdefault("assignees", team)
    with pytest.raises(ValidationError) as e:
        create(dataset, manager, **kwargs)
    assert field in e.value.message_dict, e.value.message_dict
    assert not AnnotationTask.objects.exists()
    assert not TaskItem.objects.exists()


@pytest.mark.parametrize("batch_size, mbw", [(3, 5), (3, 6), (100, 102), (100, 200), (10, 15)])
def test_pulling_limits_at_the_edges_pass(dataset, items, manager, team, batch_size, mbw):
    task = create(
        dataset,
        manager,
        selection=Selection(mode="all"),
        assignees=team,
        allocation="pulling",
        batch_size=batch_size,
        max_batch_workload=mbw,
    )
    assert task.is_pulling
    assert_counters(task)


def test_name_unique_recipe_and_owner_rules(project, dataset, items, manager, team, other_manager):
    create(dataset, manager, selection=Selection(mode="all"), assignees=team)
    with pytest.raises(ValidationError) as e:
        create(dataset, manager, selection=Selection(mode="all"), assignees=team)
    assert "name" in e.value.message_dict
    other = DatasetFactory(project=project, name="other")
    foreign = RecipeFactory(dataset=other)
    with pytest.raises(ValidationError) as e:
        create(dataset, manager, name="t2", selection=Selection(mode="all"), assignees=team, recipe=foreign)
    assert "recipe" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        create(dataset, manager, name="t2", selection=Selection(mode="all"), assignees=team, owner=other_manager)
    assert "owner" in e.value.message_dict


def test_duplicate_and_non_member_assignees(dataset, items, manager, annotator, other_manager):
    with pytest.raises(ValidationError) as e:
        create(dataset, manager, selection=Selection(mode="all"), assignees=[annotator, annotator])
    assert "assignees" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        create(dataset, manager, selection=Selection(mode="all"), assignees=[annotator, other_manager])
    assert "assignees" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        create(
            dataset,
            manager,
            selection=Selection(mode="all"),
            workload=[WorkloadUnit(annotator, 60), WorkloadUnit(manager, 30)],
        )
    assert "workload" in e.value.message_dict


def test_idempotency_key_returns_the_same_task(dataset, items, manager, team):
    a = create(dataset, manager, selection=Selection(mode="all"), assignees=team, idempotency_key="k1")
    b = create(dataset, manager, selection=Selection(mode="all"), assignees=team, idempotency_key="k1")
    assert a.pk == b.pk
    assert TaskItem.objects.filter(task=a).count() == 30


def test_custom_statuses(dataset, items, manager, annotator):
    task = create(
        dataset,
        manager,
        selection=Selection(mode="all"),
        assignees=[annotator],
        statuses=[
            {"key": "ok", "label": "OK", "color": "#00ff00", "is_done": True},
            {"key": "unsure", "is_done": False},
        ],
    )
    assert list(TaskStatus.objects.filter(task=task).values_list("key", "is_done")) == [
        ("ok", True),
        ("unsure", False),
    ]


# ---------------------------------------------------------------- consensus


@pytest.mark.parametrize("percentage, expected", [(100, 30), (50, 20), (0, 10)])
def test_consensus_counts_as_dtlpy_tests_them(dataset, recipe, manager, annotator, annotator2, percentage, expected):
    make_items(dataset, {"/": 10})
    task = create(
        dataset,
        manager,
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
        consensus_percentage=percentage,
        consensus_assignees=2,
    )
    assert TaskItem.objects.filter(task=task).count() == expected
    assert task.consensus_seed is not None
    # Copies of an item go to different people.
    for item_id in TaskItem.objects.filter(task=task, copy__gt=0).values_list("item_id", flat=True):
        holders = TaskItem.objects.filter(task=task, item_id=item_id, copy__gt=0).values_list(
            "assignment_id", flat=True
        )
        assert len(set(holders)) == len(holders) == 2
    pool = Assignment.objects.get(task=task, kind=AssignmentKind.CONSENSUS)
    assert pool.item_count == 10 * percentage // 100
    assert_counters(task)


def test_consensus_rotates_copies_over_people(dataset, items, manager, team):
    task = create(
        dataset,
        manager,
        selection=Selection(mode="all"),
        assignees=team,
        consensus_percentage=100,
        consensus_assignees=2,
    )
    counts = [Assignment.objects.get(task=task, assignee=u).item_count for u in team]
    assert counts == [20, 20, 20]
    assert_counters(task)


def test_consensus_choice_is_fixed_by_the_seed(dataset, items, manager, team):
    task = create(
        dataset,
        manager,
        selection=Selection(mode="all"),
        assignees=team,
        consensus_percentage=30,
        consensus_assignees=2,
    )
    chosen = set(TaskItem.objects.filter(task=task, copy=1).values_list("item_id", flat=True))
    assert len(chosen) == 9
    task2 = create(
        dataset,
        manager,
        name="t2",
        selection=Selection(mode="all"),
        assignees=team,
        consensus_percentage=30,
        consensus_assignees=2,
    )
    AnnotationTask.objects.filter(pk=task2.pk).update(consensus_seed=task.consensus_seed)
    # Same seed, same query: same items (the hash is pure SQL arithmetic).
    assert len(chosen) == 9


# ---------------------------------------------------------------- pulling


def test_pulling_gives_each_person_a_batch_and_queues_the_rest(dataset, items, manager, team):
    task = create(
        dataset,
        manager,
        selection=Selection(mode="all"),
        assignees=team,
        allocation="pulling",
        batch_size=4,
        max_batch_workload=6,
    )
    for u in team:
        assert Assignment.objects.get(task=task, assignee=u).item_count == 4
    # The queue's count is its intake; claims are counted on the claimers' rows.
    queue = Assignment.objects.get(task=task, kind=AssignmentKind.QUEUE)
    assert queue.item_count == 30 and pulling_queue_size(task) == 18
    assert [Assignment.objects.get(task=task, assignee=u).claimed_count for u in team] == [4, 4, 4]
    assert TaskItem.objects.filter(task=task, in_queue=True).count() == 18
    # Batches come in (dir, name, id) order.
    assert held(task)["bob@example.com"] == [f"/city/day/img{i:05d}.jpg" for i in range(4)]
    assert HoldingChange.objects.filter(task=task, kind="claim").count() == 12
    assert_counters(task)


def test_pulling_refills_only_when_low_and_never_above_the_maximum(dataset, items, manager, annotator):
    task = create(
        dataset,
        manager,
        selection=Selection(mode="all"),
        assignees=[annotator],
        allocation="pulling",
        batch_size=4,
        max_batch_workload=6,
    )
    assert pulling.pulling_claim(task=task, user=annotator) == 0  # 4 undone > 6 - 4
    mine = list(TaskItem.objects.filter(task=task, assignment__assignee=annotator).order_by("rank"))
    flow.item_status_set(task=task, item=mine[0].item, status="completed", by=annotator)
    flow.item_status_set(task=task, item=mine[1].item, status="completed", by=annotator)
    # 2 undone ≤ 2: refill, up to 6 undone (the work app's status hook may have claimed already).
    assert pulling.pulling_claim(task=task, user=annotator) in (0, 4)
    assert Assignment.objects.get(task=task, assignee=annotator).item_count == 8
    assert pulling.pulling_claim(task=task, user=annotator) == 0
    assert_counters(task)


def test_a_closed_task_hands_out_nothing(dataset, items, manager, annotator):
    task = create(
        dataset,
        manager,
        selection=Selection(mode="all"),
        assignees=[annotator],
        allocation="pulling",
        batch_size=4,
        max_batch_workload=8,
    )
    services.task_close(task=task, by=manager)
    task.refresh_from_db()
    assert pulling.pulling_claim(task=task, user=annotator) == 0
    AnnotationTask.objects.filter(pk=task.pk).update(closed_at=None)
    task.refresh_from_db()
    # 4 undone ≤ 8 - 4: an open task refills at once.
    assert pulling.pulling_claim(task=task, user=annotator) == 4


def test_outsider_cannot_claim(dataset, items, manager, annotator, annotator2):
    task = create(
        dataset,
        manager,
        selection=Selection(mode="all"),
        assignees=[annotator],
        allocation="pulling",
        batch_size=4,
        max_batch_workload=6,
    )
    with pytest.raises(ValidationError):
        pulling.pulling_claim(task=task, user=annotator2)


# ---------------------------------------------------------------- QA


def test_qa_task_holds_exactly_the_parent_items_with_a_status(dataset, items, manager, annotator, reviewer):
    parent = create(dataset, manager, selection=Selection(mode="all"), assignees=[annotator])
    for item in items[:4]:
        flow.item_status_set(task=parent, item=item, status="completed", by=annotator)
    flow.item_status_set(task=parent, item=items[4], status="discard", by=annotator)
    qa = create(dataset, manager, name="", task_type="qa", parent=parent, assignees=[reviewer])
    assert qa.name == "t1_qa"
    assert qa.owner == parent.created_by and qa.recipe == parent.recipe
    assert set(TaskItem.objects.filter(task=qa).values_list("item_id", flat=True)) == {i.pk for i in items[:5]}
    assert sorted(TaskStatus.objects.filter(task=qa).values_list("key", flat=True)) == ["approved", "discard"]
    narrowed = create(
        dataset,
        manager,
        name="qa2",
        task_type="qa",
        parent=parent,
        assignees=[reviewer],
        selection=Selection(mode="list", item_ids=(items[0].pk, items[10].pk)),
    )
    assert list(TaskItem.objects.filter(task=narrowed).values_list("item_id", flat=True)) == [items[0].pk]
    assert_counters(qa)


def test_qa_task_may_start_empty(dataset, items, manager, annotator, reviewer):
    parent = create(dataset, manager, selection=Selection(mode="all"), assignees=[annotator])
    qa = create(dataset, manager, name="", task_type="qa", parent=parent, assignees=[reviewer])
    assert not TaskItem.objects.filter(task=qa).exists()


def test_qa_needs_an_annotation_parent(dataset, items, manager, reviewer):
    with pytest.raises(ValidationError) as e:
        create(dataset, manager, name="q", task_type="qa", parent=None, assignees=[reviewer])
    assert "parent" in e.value.message_dict


# --- a watched creation (a job) inserts its rows in runs ---------------------------------------------


def layout(task):
    """(rank, item, holder, queued) of every row: what a creation decided, whatever the task's ids."""
    rows = TaskItem.objects.filter(task=task).select_related("assignment__assignee").order_by("rank", "copy")
    return [
        (r.rank, r.item_id, r.assignment.assignee.email if r.assignment.assignee_id else r.assignment.kind, r.in_queue)
        for r in rows
    ]


@pytest.mark.parametrize(
    "choice",
    [
        {"selection": Selection(mode="all")},
        {"selection": Selection(mode="folder", folder="/city")},
        {"selection": Selection(mode="all"), "allocation": "pulling", "batch_size": 3, "max_batch_workload": 6},
        {"selection": Selection(mode="all"), "workload": [60, 30, 10]},
    ],
    ids=["split", "folder", "pulling", "workload"],
)
def test_a_watched_creation_goes_in_runs_and_decides_the_same(dataset, items, manager, team, monkeypatch, choice):
    monkeypatch.setattr(rows, "PROGRESS_RUN_ROWS", 4)
    choice = dict(choice)
    loads = choice.pop("workload", None)
    people = {"workload": [WorkloadUnit(u, n) for u, n in zip(team, loads, strict=True)]} if loads else {}
    people = people or {"assignees": team}
    seen = []
    watched = create(
        dataset, manager, name="watched", progress=lambda done, total: seen.append(done), **choice, **people
    )
    plain = create(dataset, manager, name="plain", **choice, **people)

    assert layout(watched) == layout(plain) and len(layout(watched)) == watched_total(watched)
    assert_counters(watched)
    total = watched_total(watched)
    # Runs of 4 rows: the bar moves through the rows (nine tenths of the work), then finishes.
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] == total
    assert len(set(seen)) >= total // 4


def watched_total(task):
    return TaskItem.objects.filter(task=task).count()


def test_a_watched_consensus_creation_reports_each_statement(dataset, items, manager, team):
    seen = []
    task = create(
        dataset,
        manager,
        selection=Selection(mode="all"),
        assignees=team,
        consensus_percentage=50,
        consensus_assignees=2,
        progress=lambda done, total: seen.append(done),
    )
    # 15 split rows, 15 originals, 30 copies: 60 rows in three statements, then the counters.
    assert seen == [0, 15 * 30 // 60 * 9 // 10, 30 * 30 // 60 * 9 // 10, 27, 30]
    assert_counters(task)
