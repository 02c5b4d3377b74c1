"""Taskboard's side of the dtlpy conformance run, executed with `manage.py shell`.

CONFORMANCE_MODE=prepare prints the demo's names as JSON for the seed (folder, recipe, an item);
CONFORMANCE_MODE=check reads what the dtlpy run made (TB_OUT) and asserts on the database.
"""

import fnmatch
import json
import os
from pathlib import Path

from django.db.models import Count, F

from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    TaskItem,
    TaskStatus,
    WorkloadEntry,
)
from taskboard.api.ids import api_id, parse_api_id
from taskboard.api.models import ApiCommand
from taskboard.datasets.models import Dataset, Item
from taskboard.pipelines.models import Node, Pipeline
from taskboard.work.services import pulling_queue_size

MANAGER, A1, A2, A3 = (f"{who}@example.com" for who in ("manager", "annotator1", "annotator2", "annotator3"))
REVIEWER = "reviewer@example.com"
dataset = Dataset.objects.select_related("project").get(project__name="Demo", name="street-scenes")
mode = os.environ.get("CONFORMANCE_MODE", "check")

if mode == "prepare":
    folders = Item.objects.filter(dataset=dataset).values("dir").annotate(n=Count("id")).order_by("n", "dir").first()
    recipe = dataset.default_recipe
    item = Item.objects.filter(dataset=dataset, dir=folders["dir"]).order_by("pk").first()
    print(
        json.dumps(
            {
                "folder": folders["dir"],
                "recipe_id": api_id("recipe", recipe.pk),
                "recipe_title": recipe.name,
                "item_id": api_id("item", item.pk),
            }
        )
    )
    raise SystemExit(0)

made = json.loads(Path(os.environ["TB_OUT"]).read_text())
prep = json.loads(os.environ["TB_PREP"])
tag = made["tag"]
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'} state: {name}{': ' + str(detail) if detail and not ok else ''}", flush=True)


def task(n):
    return AnnotationTask.objects.filter(project=dataset.project, name=f"seed-{tag}-{n}").first()


def work_counts(t):
    return dict(
        Assignment.objects.filter(task=t, kind=AssignmentKind.WORK).values_list("assignee__email", "item_count")
    )


def equal_split(counts, total, people):
    values = [counts.get(p, -1) for p in people]
    return sorted(counts) == sorted(people) and sum(values) == total and max(values) - min(values) <= 1


# Items that arrived (manage.py demo --arrivals) just before the seed's "add unassigned items" step:
# the tasks made before it never saw them.
arrival_pks = [parse_api_id(i, "item") for i in made.get("arrivals", [])]
all_items = Item.objects.filter(dataset=dataset).exclude(pk__in=arrival_pks).count()
everything = Item.objects.filter(dataset=dataset).count()

# 1. From a filter (annotated = false), split equally between two annotators.
t1 = task(1)
not_annotated = Item.objects.filter(dataset=dataset, annotated=False).exclude(pk__in=arrival_pks).count()
check("task 1 exists", t1 is not None)
if t1:
    counts = work_counts(t1)
    check(
        "task 1 holds the not-annotated items",
        TaskItem.objects.filter(task=t1).count() == not_annotated,
        (TaskItem.objects.filter(task=t1).count(), not_annotated),
    )
    check(
        "task 1 split equally between annotator1 and annotator2", equal_split(counts, not_annotated, [A1, A2]), counts
    )
    check(
        "task 1 workload 50/50",
        sorted(WorkloadEntry.objects.filter(task=t1).values_list("load", flat=True)) == [50, 50],
    )
    check("task 1 due date 2029-01-01", t1.due_at.year == 2029 and t1.due_at.month == 1, t1.due_at)
    check("task 1 owner is the token's user", t1.owner.email == MANAGER and t1.created_by.email == MANAGER)

    # 2. Its QA task: the parent's items that have a status (none yet), same recipe, owner = parent's creator.
    qa = AnnotationTask.objects.filter(parent=t1).first()
    check("QA task made from task 1", qa is not None and qa.type == "qa" and qa.name == f"{t1.name}_qa")
    if qa:
        with_status = TaskItem.objects.filter(task=t1, status__isnull=False).values("item_id").distinct().count()
        qa_items = TaskItem.objects.filter(task=qa).count()
        check("QA task holds the parent's items with a status", qa_items == with_status, (qa_items, with_status))
        if made.get("qa_items"):
            wanted = sorted(parse_api_id(i, "item") for i in made["qa_items"])
            got = sorted(TaskItem.objects.filter(task=qa).values_list("item_id", flat=True))
            check("the 3 items completed in the parent entered the QA task", got == wanted, (got, wanted))
            approved = TaskItem.objects.filter(task=qa, status="approved").count()
            check("one of them is approved", approved == 1, approved)
        check(
            "QA task has the parent's recipe and owner",
            qa.recipe_id == t1.recipe_id and qa.owner_id == t1.created_by_id,
        )
        check(
            "QA task split between annotator1 and annotator2",
            sorted(WorkloadEntry.objects.filter(task=qa).values_list("assignee__email", flat=True)) == [A1, A2],
        )

# 3. From the list of every item.
t2 = task(2)
check("task 2 (item list) exists", t2 is not None)
if t2:
    counts = work_counts(t2)
    check("task 2 holds every item, split equally", equal_split(counts, all_items, [A1, A2]), counts)

# 4. The whole dataset; the next ring then renamed it, reassigned and redistributed it.
t3 = AnnotationTask.objects.filter(project=dataset.project, name=made.get("renamed_task", f"seed-{tag}-3")).first()
check("task 3 (entire dataset) exists, renamed by task.update()", t3 is not None)
if t3:
    rows = TaskItem.objects.filter(task=t3)
    check(
        "task 3 holds every item once",
        rows.count() == all_items == rows.values("item_id").distinct().count(),
        (rows.count(), all_items),
    )
    counts = work_counts(t3)
    check("task 3 counters match its rows", sum(counts.values()) == all_items, counts)
    check("task 3 priority 3 and owner annotator1 after update", t3.priority == 3 and t3.owner.email == A1)
    a3_undone = TaskItem.objects.filter(task=t3, assignment__assignee__email=A3, status__isnull=True).count()
    check("task 3: annotator3's undone items were redistributed", a3_undone == 0, a3_undone)
    if made.get("discarded_item"):
        row = TaskItem.objects.filter(task=t3, item_id=parse_api_id(made["discarded_item"], "item")).first()
        check("task 3: the status set through assignment.set_status is stored", row and row.status == "discard")
    if made.get("status_item"):
        row = TaskItem.objects.filter(task=t3, item_id=parse_api_id(made["status_item"], "item")).first()
        check("task 3: the status cleared through task.set_status is gone", row and row.status is None)

# 5. Pulling: batch 10, at most 15, both annotators start with one batch; the rest waits in the queue.
t4 = task(4)
check("pulling task exists", t4 is not None and t4.allocation == "pulling")
if t4:
    check("pulling settings 10 / 15", (t4.batch_size, t4.max_batch_workload) == (10, 15))
    counts = work_counts(t4)
    pulled = 10 if made.get("pulling_refilled") else 0
    arrived = dict(
        TaskItem.objects.filter(task=t4, item_id__in=arrival_pks)
        .values_list("assignment__assignee__email")
        .annotate(n=Count("id"))
    )
    check(
        "each allowed assignee started with one batch of 10 (plus the arrivals added for them)",
        counts == {A1: 10 + pulled + arrived.get(A1, 0), A2: 10 + arrived.get(A2, 0)},
        (counts, arrived),
    )
    queue = Assignment.objects.filter(task=t4, kind=AssignmentKind.QUEUE).first()
    waiting = TaskItem.objects.filter(task=t4, in_queue=True).count()
    check(
        "the rest waits in the hidden queue (and its counter says so)",
        queue is not None and waiting == pulling_queue_size(t4) == all_items - 20 - pulled,
        (waiting, pulling_queue_size(t4)),
    )
    if made.get("pulling_refilled"):
        refilled = Assignment.objects.get(pk=parse_api_id(made["pulling_refilled"], "assignment"))
        undone = TaskItem.objects.filter(assignment=refilled, status__isnull=True).count()
        held = made["pulling_held_before"]
        check(
            "down to 5 undone, annotator1 pulled a second batch of 10: 15 undone (the maximum)",
            (refilled.item_count, undone) == (held + 10, 15),
            (refilled.item_count, undone, held),
        )
    item_pk = parse_api_id(prep["item_id"], "item")
    check(
        "the single item added by id is in the pulling task",
        TaskItem.objects.filter(task=t4, item_id=item_pk).exists(),
    )
    adds = list(ApiCommand.objects.filter(type="AddToTask", spec__addToTaskId=api_id("task", t4.pk)).order_by("pk"))
    check("both add_items calls answered with a command", len(adds) == 2, len(adds))
    if len(adds) == 2:
        check(
            f"add by filter added the {len(arrival_pks)} unassigned items (the arrivals, in no task before)",
            len(arrival_pks) > 0 and adds[0].spec.get("addedItemsCount") == len(arrival_pks),
            (adds[0].spec.get("addedItemsCount"), len(arrival_pks)),
        )
        in_t4 = TaskItem.objects.filter(task=t4, item_id__in=arrival_pks, assignment__kind=AssignmentKind.WORK)
        check(
            "the arrivals are in the pulling task, split between annotator1 and annotator2",
            in_t4.count() == len(arrival_pks) and set(arrived) == {A1, A2},
            (in_t4.count(), arrived),
        )
        check(
            "add by item id skipped the item already in the task",
            adds[1].spec.get("addedItemsCount", 0) + adds[1].spec.get("skippedItemsCount", 0) == 1,
            adds[1].spec,
        )

# 6. Consensus: 100% of the items, 2 copies each, on different people.
t5 = task(5)
check("consensus task exists", t5 is not None and t5.consensus_assignees == 2 and t5.consensus_percentage == 100)
if t5:
    copies = TaskItem.objects.filter(task=t5, copy__gt=0)
    check(
        "every item (arrivals included) has 2 consensus copies",
        copies.count() == 2 * everything,
        (copies.count(), everything),
    )
    per_item = copies.values("item_id").annotate(people=Count("assignment__assignee", distinct=True))
    check("the two copies of an item go to different people", all(r["people"] == 2 for r in per_item))
    originals = Assignment.objects.filter(task=t5, kind=AssignmentKind.CONSENSUS).first()
    check(
        "the originals sit in the hidden consensus assignment",
        originals is not None and originals.item_count == everything,
    )

# 7. The pipeline's task node, where the SDK put it.
pipeline = Pipeline.objects.filter(project=dataset.project, name=f"pipeline-{tag}").first()
check("pipeline exists", pipeline is not None)
if pipeline:
    nodes = list(Node.objects.filter(pipeline=pipeline))
    check("one task node", len(nodes) == 1 and nodes[0].kind == "annotation", [n.kind for n in nodes])
    if nodes:
        node = nodes[0]
        check("the node sits at position (2, 1)", (node.column, node.row) == (2, 1), (node.column, node.row))
        position = node.raw.get("metadata", {}).get("position", {})
        check("the node JSON keeps x=780, y=217.5", (position.get("x"), position.get("y")) == (780, 217.5), position)
        workload = list(node.workload.values_list("assignee__email", "load"))
        check("the node's workload is annotator1 at 100", workload == [(A1, 100)], workload)
        check(
            "the node's recipe and dataset",
            node.recipe_id == dataset.default_recipe.pk and node.dataset_id == dataset.pk,
        )
        check(
            "install, execute and pause went through",
            pipeline.state == "paused" and node.task_id is not None,
            (pipeline.state, node.task_id),
        )

# 8. Only the assignee holding an item sets or clears its status: the manager's tries changed nothing.
check(
    "no status anywhere was set by the manager",
    not TaskItem.objects.filter(status_by__email=MANAGER).exists(),
    TaskItem.objects.filter(status_by__email=MANAGER).count(),
)
not_holder = TaskItem.objects.filter(status__isnull=False).exclude(status_by=F("assignment__assignee"))
check("every status was set by the item's holder", not not_holder.exists(), not_holder.count())
if made.get("manager_refused_item") and t3:
    row = TaskItem.objects.filter(task=t3, item_id=parse_api_id(made["manager_refused_item"], "item")).first()
    check("task 3: the item the manager was refused on has no status", row and row.status is None)

# 9. Listing with filename globs and metadata filters: what dtlpy listed is what the database holds.
listed = made.get("listed") or {}
rows = list(Item.objects.filter(dataset=dataset).values_list("filename", "dir", "name", "metadata", "annotated"))
in_tasks = set(Item.objects.filter(dataset=dataset, task_items__isnull=False).values_list("filename", flat=True))
expected = {
    "glob_star": [f for f, d, _n, _m, _a in rows if d == "/suburb/rain"],
    "glob_recursive": [f for f, _d, _n, _m, _a in rows if f.startswith("/suburb/")],
    "glob_name": [f for f, d, n, _m, _a in rows if d == "/city/night" and fnmatch.fnmatchcase(n, "frame_0001*.png")],
    "metadata_area": [f for f, _d, _n, m, _a in rows if m.get("area") == f"arrivals-{tag}"],
    "metadata_camera": [f for f, d, _n, m, _a in rows if d == "/city/night" and m.get("camera") == "front"],
    "annotated": [f for f, _d, _n, _m, a in rows if a],
    "in_no_task": [f for f, _d, _n, _m, _a in rows if f not in in_tasks],
}
check("dtlpy drove every listing filter", sorted(listed) == sorted(expected), sorted(listed))
for key, filenames in expected.items():
    got = listed.get(key)
    check(
        f"items.list({key}) lists exactly the matching items",
        got == sorted(filenames),
        (len(got or []), len(filenames)),
    )

# 10. A filename-glob task with a limit; assignment.update() with a new annotator reassigned it.
glob_task = AnnotationTask.objects.filter(project=dataset.project, name=f"seed-{tag}-glob").first()
check("the glob task exists", glob_task is not None)
if glob_task:
    held = list(TaskItem.objects.filter(task=glob_task).values_list("item__filename", flat=True))
    first = list(
        Item.objects.filter(dataset=dataset, filename__startswith="/suburb/")
        .order_by("dir", "name", "id")
        .values_list("filename", flat=True)[:25]
    )
    check("limit=25: the first 25 items under /suburb/ in (dir, name, id) order", sorted(held) == sorted(first))
    counts = work_counts(glob_task)
    check(
        "assignment.update(annotator): annotator2 holds the 20 undone, annotator3 the 5 done",
        counts == {A2: 20, A3: 5},
        counts,
    )
    done = TaskItem.objects.filter(
        task=glob_task, item_id__in=[parse_api_id(i, "item") for i in made.get("glob_done", [])]
    )
    check(
        "the 5 annotator3 completed stay with them, completed by them",
        done.count() == 5
        and all(r.status == "completed" and r.status_by.email == A3 == r.assignment.assignee.email for r in done),
    )

# 11. Custom statuses (available_actions), a metadata filter, the reviewer's QA, add_items(limit=3).
custom = AnnotationTask.objects.filter(project=dataset.project, name=f"seed-{tag}-custom").first()
check("the custom-status task exists", custom is not None)
if custom:
    keys = sorted(TaskStatus.objects.filter(task=custom).values_list("key", flat=True))
    check("its statuses are exactly accepted and needs-fix", keys == ["accepted", "needs-fix"], keys)
    front = Item.objects.filter(dataset=dataset, dir="/city/night", metadata__camera="front")
    rows = TaskItem.objects.filter(task=custom)
    check(
        "it holds the /city/night items with metadata.camera == front, plus 3 from /highway",
        set(rows.exclude(item__dir="/highway").values_list("item_id", flat=True))
        == set(front.values_list("pk", flat=True))
        and rows.filter(item__dir="/highway").count() == 3,
        (rows.count(), front.count()),
    )
    if made.get("custom_added"):
        first3 = list(Item.objects.filter(dataset=dataset, dir="/highway").order_by("dir", "name", "id")[:3])
        got = sorted(rows.filter(item__dir="/highway").values_list("item_id", flat=True))
        check("add_items(limit=3) added the first 3 /highway items", got == sorted(i.pk for i in first3))
    for item_id, status in (made.get("custom_statuses") or {}).items():
        row = rows.filter(item_id=parse_api_id(item_id, "item")).select_related("assignment__assignee").first()
        check(
            f"custom status {status} stored, set by its holder",
            row and row.status == status and row.status_by_id == row.assignment.assignee_id,
        )
    custom_qa = AnnotationTask.objects.filter(parent=custom).first()
    check(
        "the reviewer's QA task over it holds the 2 items with a status",
        custom_qa and custom_qa.task_items.count() == 2,
    )
    if custom_qa and made.get("custom_qa_approved"):
        row = TaskItem.objects.filter(task=custom_qa, item_id=parse_api_id(made["custom_qa_approved"], "item")).first()
        check(
            "the reviewer holds it and approved the item",
            row and row.status == "approved" and row.status_by.email == REVIEWER == row.assignment.assignee.email,
        )

# 12. Tasks over TASK_JOB_THRESHOLD items were made by jobs, whose commands dtlpy polled.
job_commands = ApiCommand.objects.filter(type="CreateTask", job__isnull=False).select_related("job")
threshold = int(os.environ.get("TB_TASK_JOB_THRESHOLD") or 0)
if threshold:
    check(
        f"task creations of {threshold}+ items ran as jobs",
        job_commands.exists() and all(c.job.state == "succeeded" for c in job_commands),
        [(c.pk, c.job.state) for c in job_commands],
    )
print(f"INFO job-made tasks: {job_commands.count()}", flush=True)

failed = results.count(False)
print(f"state: {len(results) - failed} passed, {failed} failed", flush=True)
raise SystemExit(1 if failed else 0)
