"""The counters the core services keep match the rows after every operation; the command proves it."""

import random

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from taskboard.annotation import moves, services
from taskboard.annotation.models import Assignment, AssignmentKind, StatusCount, TaskItem
from taskboard.annotation.pulling import pulling_claim
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit
from taskboard.dashboards import counters
from taskboard.dashboards.models import DailyThroughput
from taskboard.work import flow
from taskboard.work import services as work
from tests.dashboards.conftest import held_items
from tests.factories import create_task, in_days, make_items


def assert_no_drift():
    drift = counters.find_drift()
    assert drift == [], "\n".join(map(str, drift))


def test_counters_after_each_operation(make_task, manager, annotator, annotator2, annotator3, dataset):
    task = make_task(assignees=[annotator, annotator2])
    assert_no_drift()
    item = held_items(task, annotator)[0]
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    assert_no_drift()
    flow.item_status_set(task=task, item=item, status="discard", by=annotator)
    assert_no_drift()
    flow.item_status_clear(task=task, item=item, by=annotator)
    assert_no_drift()
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    make_items(dataset, {"/city/dawn": 4})
    moves.task_add_items(
        task=task, selection=Selection(mode="folder", folder="/city/dawn"), by=manager, assignees=[annotator3]
    )
    assert_no_drift()
    moves.task_remove_items(task=task, selection=Selection(mode="folder", folder="/city/dawn"), by=manager)
    assert_no_drift()
    bob = Assignment.objects.get(task=task, assignee=annotator)
    moves.assignment_reassign(assignment=bob, to_user=annotator3, by=manager)
    assert_no_drift()
    carol = Assignment.objects.get(task=task, assignee=annotator2)
    moves.assignment_redistribute(
        assignment=carol, workload=[WorkloadUnit(annotator, 50), WorkloadUnit(annotator3, 50)], by=manager
    )
    assert_no_drift()


def test_throughput_follows_status_changes(make_task, annotator, annotator2):
    task = make_task(assignees=[annotator])
    a, b = held_items(task, annotator)[:2]
    flow.item_status_set(task=task, item=a, status="completed", by=annotator)
    flow.item_status_set(task=task, item=b, status="completed", by=annotator)
    flow.item_status_set(task=task, item=b, status="discard", by=annotator)  # done to done: no change
    assert list(DailyThroughput.objects.filter(task=task).values_list("done", flat=True)) == [2]
    flow.item_status_clear(task=task, item=a, by=annotator)
    assert list(DailyThroughput.objects.filter(task=task).values_list("done", flat=True)) == [1]


def test_check_reports_drift_and_rebuild_repairs_it(make_task, annotator, annotator2, capsys):
    task = make_task(assignees=[annotator, annotator2])
    item = held_items(task, annotator)[0]
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    bob = Assignment.objects.get(task=task, assignee=annotator)
    Assignment.objects.filter(pk=bob.pk).update(item_count=99, rework_count=3)
    StatusCount.objects.filter(assignment=bob, status="completed").update(count=7)
    DailyThroughput.objects.filter(task=task).delete()

    with pytest.raises(CommandError) as error:
        call_command("rebuild_counters", "--check")
    assert error.value.returncode == 1
    out = capsys.readouterr().out
    assert f"assignment {bob.pk} (bob@example.com): item_count stored 99, actual 9" in out
    assert "rework_count stored 3, actual 0" in out
    assert "status:completed stored 7, actual 1" in out
    assert "throughput stored 0, actual 1" in out
    bob.refresh_from_db()
    assert bob.item_count == 99  # --check wrote nothing

    call_command("rebuild_counters")
    assert "Repaired 4 counter(s)" in capsys.readouterr().out
    assert_no_drift()
    call_command("rebuild_counters", "--check")
    assert "No drift" in capsys.readouterr().out


def _statuses(task, **is_done):
    return [
        {"key": s.key, "label": s.label, "color": s.color, "is_done": is_done.get(s.key, s.is_done)}
        for s in task.statuses.all()
    ]


def test_a_status_in_use_keeps_whether_it_counts_as_done(make_task, annotator):
    task = make_task(assignees=[annotator])
    item = held_items(task, annotator)[0]
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    with pytest.raises(ValidationError) as error:
        services.task_update(task=task, by=annotator, statuses=_statuses(task, completed=False))
    assert "statuses" in error.value.message_dict
    assert "“completed” is in use" in error.value.message_dict["statuses"][0]
    assert task.statuses.get(key="completed").is_done  # nothing written
    assert_no_drift()  # (without the rule: throughput stored 1, actual 0)
    # A status no item holds may change, and a custom one may be added not counting as done.
    statuses = _statuses(task, discard=False) + [{"key": "unsure", "label": "Unsure", "is_done": False}]
    services.task_update(task=task, by=annotator, statuses=statuses)
    assert not task.statuses.get(key="discard").is_done
    flow.item_status_set(task=task, item=item, status="unsure", by=annotator)
    assert_no_drift()
    # Once nobody holds it any more, it may change again.
    flow.item_status_set(task=task, item=item, status="discard", by=annotator)
    services.task_update(task=task, by=annotator, statuses=_statuses(task, completed=False))
    assert_no_drift()


def test_rebuild_creates_missing_status_rows(make_task, annotator):
    task = make_task(assignees=[annotator])
    item = held_items(task, annotator)[0]
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    StatusCount.objects.filter(assignment__task=task).delete()
    assert [d.counter for d in counters.find_drift([task.pk])] == ["status:completed"]
    counters.rebuild([task.pk])
    assert_no_drift()


# --- a random walk through the core operations -------------------------------------------------------


def _random_walk(rng, *, dataset, manager, people, steps, reviewer=None):
    ops_done = []
    folders = iter(f"/batch{n}" for n in range(1000))
    tasks, qa_tasks = [], []

    def new_task(kind=None):
        """A task of `kind` (plain, pulling or consensus), or of a random one."""
        folder = next(folders)
        make_items(dataset, {folder: rng.randint(3, 15)})
        if kind is None:
            kind = "pulling" if rng.random() < 0.3 else ("consensus" if rng.random() < 0.35 else "plain")
        pulling = kind == "pulling"
        extra = {"allocation": "pulling", "batch_size": 3, "max_batch_workload": 5} if pulling else {}
        assignees = rng.sample(people, rng.randint(2 if kind == "consensus" else 1, len(people)))
        if kind == "consensus":
            extra = {"consensus_percentage": rng.choice([50, 100]), "consensus_assignees": 2}
        task = create_task(
            dataset=dataset,
            created_by=manager,
            name=f"walk {len(tasks)}",
            selection=Selection(mode="folder", folder=folder),
            assignees=assignees,
            due_at=in_days(2),
            **extra,
        )
        tasks.append(task)
        if reviewer is not None and not pulling and (len(tasks) == 1 or rng.random() < 0.6):
            qa_tasks.append(
                create_task(
                    dataset=dataset,
                    created_by=manager,
                    name=f"{task.name}_qa",
                    task_type="qa",
                    parent=task,
                    assignees=[reviewer],
                    due_at=in_days(2),
                )
            )
        consensus = "consensus_assignees" in extra
        qa = bool(qa_tasks) and qa_tasks[-1].parent_id == task.pk
        return f"create {task.pk} pulling={pulling} consensus={consensus} qa={qa}"

    def label():
        """A holder toggles a label on a consensus copy: agreement differs when the copies get a status."""
        consensus = [t for t in tasks if t.is_consensus]
        if not consensus:
            return None
        task = rng.choice(consensus)
        rows = list(
            TaskItem.objects.filter(task=task, copy__gt=0, assignment__kind=AssignmentKind.WORK).select_related(
                "assignment__assignee", "task"
            )
        )
        if not rows:
            return None
        row = rng.choice(rows)
        chosen = rng.choice(list(task.recipe.labels.all()))
        work.item_label_toggle(task_item=row, label=chosen, by=row.assignment.assignee)
        return f"label {row.pk} {chosen.name}"

    def set_status():
        task = rng.choice(tasks)
        rows = list(
            TaskItem.objects.filter(task=task, assignment__kind=AssignmentKind.WORK).select_related(
                "assignment__assignee", "item"
            )
        )
        if not rows:
            return None
        row = rng.choice(rows)
        status = rng.choice(list(task.statuses.values_list("key", flat=True)))
        flow.item_status_set(task=task, item=row.item, status=status, by=row.assignment.assignee, copy=row.copy)
        return f"set {row.pk} {status}"

    def clear_status():
        task = rng.choice(tasks)
        rows = list(
            TaskItem.objects.filter(task=task, status__isnull=False).select_related("assignment__assignee", "item")
        )
        if not rows:
            return None
        row = rng.choice(rows)
        flow.item_status_clear(task=task, item=row.item, by=row.assignment.assignee, copy=row.copy)
        return f"clear {row.pk}"

    def add_items():
        task = rng.choice(tasks)
        folder = next(folders)
        make_items(dataset, {folder: rng.randint(1, 8)})
        kwargs = {} if task.is_pulling else {"assignees": rng.sample(people, rng.randint(1, len(people)))}
        moves.task_add_items(task=task, selection=Selection(mode="folder", folder=folder), by=manager, **kwargs)
        return f"add {task.pk} {folder}"

    def remove_items():
        task = rng.choice(tasks)
        rows = list(TaskItem.objects.filter(task=task).values_list("item_id", flat=True)[:50])
        if not rows:
            return None
        ids = tuple(rng.sample(rows, min(len(rows), rng.randint(1, 4))))
        moves.task_remove_items(task=task, selection=Selection(mode="list", item_ids=ids), by=manager)
        return f"remove {task.pk} {ids}"

    def reassign():
        task = rng.choice(tasks)
        work = list(Assignment.objects.filter(task=task, kind=AssignmentKind.WORK, removed=False))
        if not work or task.is_pulling:
            return None
        a = rng.choice(work)
        others = [p for p in people if p.pk != a.assignee_id]
        moves.assignment_reassign(assignment=a, to_user=rng.choice(others), by=manager)
        return f"reassign {a.pk}"

    def redistribute():
        task = rng.choice(tasks)
        work = list(Assignment.objects.filter(task=task, kind=AssignmentKind.WORK, removed=False))
        if not work or task.is_pulling:
            return None
        a = rng.choice(work)
        pair = rng.sample(people, 2)
        moves.assignment_redistribute(
            assignment=a, workload=[WorkloadUnit(pair[0], 60), WorkloadUnit(pair[1], 40)], by=manager
        )
        return f"redistribute {a.pk}"

    def edit_statuses():
        """The manager edits the statuses: flips whether one counts as done, adds or drops a custom one."""
        task = rng.choice(tasks)
        statuses = _statuses(task)
        change = rng.choice(["flip", "flip", "add", "drop"])
        if change == "flip":
            chosen = rng.choice(statuses)
            chosen["is_done"] = not chosen["is_done"]
        elif change == "add":
            statuses.append({"key": f"custom{rng.randint(1, 3)}", "label": "Custom", "is_done": rng.random() < 0.5})
            statuses = list({s["key"]: s for s in statuses}.values())
        else:
            customs = [s for s in statuses if s["key"].startswith("custom")]
            if not customs:
                return None
            statuses.remove(rng.choice(customs))
        services.task_update(task=task, by=manager, statuses=statuses)
        return f"statuses {task.pk} {change} " + ",".join(f"{s['key']}={int(s['is_done'])}" for s in statuses)

    def claim():
        pulling_tasks = [t for t in tasks if t.is_pulling]
        if not pulling_tasks:
            return None
        task = rng.choice(pulling_tasks)
        user = rng.choice(people)
        n = pulling_claim(task=task, user=user)
        return f"claim {task.pk} {user.email} {n}"

    def review():
        waiting = [
            row
            for qa in qa_tasks
            for row in TaskItem.objects.filter(task=qa, status__isnull=True, rework=False).select_related(
                "item", "task"
            )
        ]
        if not waiting:
            return None
        row = rng.choice(waiting)
        verdict = rng.choice(["approved", "discard", "reject", "reject"])
        if verdict == "reject":
            flow.item_reject(qa_task_item=row, comment="tighter box", by=reviewer)
        else:
            flow.item_status_set(task=row.task, item=row.item, status=verdict, by=reviewer)
        return f"review {row.pk} {verdict}"

    ops = [set_status] * 6 + [clear_status] * 2 + [add_items, remove_items, reassign, redistribute, claim, claim]
    ops += [label] * 2 + [edit_statuses] * 2
    if reviewer is not None:
        ops += [review] * 4
    # Every walk has a plain task (with a QA task when there is a reviewer), a pulling and a consensus one.
    ops_done += [new_task("plain"), new_task("pulling"), new_task("consensus")]
    for _ in range(steps):
        op = new_task if rng.random() < 0.05 else rng.choice(ops)
        try:
            done = op()
        except ValidationError as e:
            done = f"{op.__name__} refused: {e}"
        ops_done.append(done)
        drift = counters.find_drift()
        assert drift == [], (
            "after:\n" + "\n".join(map(str, filter(None, ops_done))) + "\n" + "\n".join(map(str, drift))
        )
    return ops_done


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_drift_after_a_random_sequence(seed, dataset, recipe, manager, annotator, annotator2, annotator3):
    rng = random.Random(seed)
    done = _random_walk(rng, dataset=dataset, manager=manager, people=[annotator, annotator2, annotator3], steps=100)
    kinds = {d.split()[0] for d in done if d}
    assert {"create", "set", "clear", "add", "remove", "claim", "label", "statuses"} <= kinds
    assert any("consensus=True" in d for d in done if d)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_no_drift_with_qa_verdicts_and_rework_in_the_walk(
    seed, dataset, recipe, manager, annotator, annotator2, annotator3, reviewer
):
    rng = random.Random(seed)
    done = _random_walk(
        rng,
        dataset=dataset,
        manager=manager,
        people=[annotator, annotator2, annotator3],
        reviewer=reviewer,
        steps=100,
    )
    assert any(d and d.startswith("review") and d.endswith("reject") for d in done)
