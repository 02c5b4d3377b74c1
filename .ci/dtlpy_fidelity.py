"""Dataloop's behaviour beyond the seed, point by point, through dtlpy==1.126.5 against a running Taskboard
(after .ci/dtlpy_seed.py, on the demo). Runs inside .ci/venv-dtlpy; prints PASS/FAIL lines.

Each step names the issue's point and the call that shows it. Environment: TB_URL, TB_TOKEN (manager),
TB_TOKENS (JSON email -> token), TB_PREP (JSON: folder, recipe_id, recipe_title, item_id), RUN_TAG,
DATALOOP_PATH (a temp dir).
"""

import contextlib
import datetime
import json
import os
import sys
import time
import traceback
from pathlib import Path

URL = os.environ["TB_URL"].rstrip("/")
ENV = URL + "/api/v1"
TOKEN = os.environ["TB_TOKEN"]
TOKENS = json.loads(os.environ.get("TB_TOKENS") or "{}")
PREP = json.loads(os.environ["TB_PREP"])
TAG = f"{os.environ.get('RUN_TAG', int(time.time()))}-f"
MANAGER, A1, A2, A3 = (f"{who}@example.com" for who in ("manager", "annotator1", "annotator2", "annotator3"))
DUE = datetime.datetime(day=1, month=6, year=2030).timestamp()

results: list[tuple[str, bool]] = []


def step(name):
    """Run a block as one check; an exception fails it with the error."""

    def decorator(fn):
        try:
            fn()
        except Exception as error:  # noqa: BLE001 - every failure is reported, then the run goes on
            traceback.print_exc()
            print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)
            results.append((name, False))
            return
        print(f"PASS {name}", flush=True)
        results.append((name, True))

    return decorator


home = Path(os.environ["DATALOOP_PATH"]) / "fidelity"
home.mkdir(parents=True, exist_ok=True)
(home / "cookie.json").write_text(
    json.dumps(
        {"url": ENV, "login_parameters": {ENV: {"alias": "tb", "gate_url": URL, "url": URL + "/", "token": TOKEN}}}
    )
)
os.environ["DATALOOP_PATH"] = str(home)

import dtlpy as dl  # noqa: E402

dl.login_token(TOKEN)
project = dl.projects.get(project_name="Demo")
dataset = project.datasets.get(dataset_name="street-scenes")
state: dict = {}


@contextlib.contextmanager
def as_user(email: str):
    dl.login_token(TOKENS[email])
    try:
        yield
    finally:
        dl.login_token(TOKEN)


def integer_ids(value, path=""):
    """Keys naming an id that hold a number or a short digit string: internal primary keys."""
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            where = f"{path}.{key}" if path else key
            names_id = key == "id" or key.endswith("Id") or key in ("pipeline", "node", "task")
            number = isinstance(inner, int) and not isinstance(inner, bool)
            if names_id and (number or isinstance(inner, str) and inner.isdigit() and len(inner) != 24):
                found.append(where)
            found += integer_ids(inner, where)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += integer_ids(inner, f"{path}[{i}]")
    return found


# ------------------------------------------------------------------ 4. pipelines


@step("4. pipeline.update() after nodes.add(TaskNode) makes the node's task, named '<node> (<pipeline>)'")
def _():
    pipeline = project.pipelines.create(name=f"fidelity-{TAG}")
    node = dl.TaskNode(
        name="Label",
        recipe_id=PREP["recipe_id"],
        recipe_title=PREP["recipe_title"],
        task_owner=MANAGER,
        workload=[dl.WorkloadUnit(assignee_id=A1, load=100)],
        position=(2, 1),
        project_id=project.id,
        dataset_id=dataset.id,
        due_date=DUE * 1000,
    )
    pipeline.nodes.add(node=node)
    pipeline.update()
    task = dataset.tasks.get(task_name=f"Label (fidelity-{TAG})")
    assert [a.annotator for a in task.assignments.list()] == [A1]
    state["pipeline"], state["node_task"] = pipeline, task


@step("4. pipeline.update() after a node's priority changes updates its task [PATCH /pipelines/{id}]")
def _():
    pipeline = project.pipelines.get(pipeline_id=state["pipeline"].id)
    pipeline.nodes[0].metadata["priority"] = 3
    pipeline.update()
    assert dl.tasks.get(task_id=state["node_task"].id).priority == 3


@step("4. no internal integer id in the pipeline's, its execution's or its task's JSON (24-hex only)")
def _():
    pipeline = project.pipelines.get(pipeline_id=state["pipeline"].id)
    pipeline.install()
    execution = pipeline.execute(execution_input={"item": PREP["item_id"]})
    state["execution"] = execution
    answers = {
        "pipeline": project.pipelines.get(pipeline_id=pipeline.id).to_json(),
        "execution": execution.to_json(),
        "task": dl.tasks.get(task_id=state["node_task"].id).to_json(),
    }
    found = integer_ids(answers)
    assert not found, found


# ------------------------------------------------------------------ 5. assignments


@step("5. assignment.reassign() that empties an assignment drops it from task.assignments.list()")
def _():
    task = dataset.tasks.create(
        task_name=f"fidelity-{TAG}-reassign",
        due_date=DUE,
        assignee_ids=[A1, A2],
        filters=dl.Filters(field="dir", values=PREP["folder"]),
        limit=10,
    )
    first = next(a for a in task.assignments.list() if a.annotator == A1)
    first.reassign(assignee_id=A3)
    listed = sorted((a.annotator, a.total_items) for a in dl.tasks.get(task_id=task.id).assignments.list())
    assert listed == [(A2, 5), (A3, 5)], listed
    assert first.id not in dl.tasks.get(task_id=task.id).assignmentIds


# ------------------------------------------------------------------ 1, 2. consensus clone items


@step("1. consensus 100% x 2 over 10 items: task.get_items() lists 30 (10 originals, 20 hidden clones)")
def _():
    state["highway"] = dataset.items.list(filters=dl.Filters(field="dir", values="/highway")).items_count
    task = dataset.tasks.create(
        task_name=f"fidelity-{TAG}-consensus",
        due_date=DUE,
        assignee_ids=[A1, A2],
        filters=dl.Filters(field="dir", values="/highway"),
        limit=10,
        consensus_percentage=100,
        consensus_assignees=2,
    )
    pages = task.get_items()
    listed = list(pages.all())
    assert pages.items_count == 30 and len(listed) == 30, (pages.items_count, len(listed))
    clones = [i for i in listed if i.hidden]
    assert len(clones) == 20 and len({i.id for i in listed}) == 30
    assert len(list(task.get_items(get_consensus_items=True).all())) == 30
    again = sorted(i.id for i in dl.tasks.get(task_id=task.id).get_items().all())
    assert again == sorted(i.id for i in listed), "clone ids changed between reads"
    # The dataset's own listing (hidden: false by default) shows no clone: its count is unchanged.
    assert dataset.items.list(filters=dl.Filters(field="dir", values="/highway")).items_count == state["highway"]
    state["consensus"], state["clones"] = task, clones


@step("2. each annotator's assignment.get_items() holds their clones; item.status(task_id) reads each one's")
def _():
    task = state["consensus"]
    for assignment in task.assignments.list():
        mine = list(assignment.get_items().all())
        assert len(mine) == 10 and all(i.hidden for i in mine), (assignment.annotator, len(mine))
        state.setdefault("held", {})[assignment.annotator] = mine
    clone = state["held"][A1][0]
    assert clone.status(task_id=task.id) is None


@step("2. item.update_status() with no ids on a clone (its 2 refs), by its holder; status(task_id) shows it")
def _():
    task = state["consensus"]
    clone = state["held"][A1][0]
    with as_user(A1):
        dl.items.get(item_id=clone.id).update_status(status=dl.ItemStatus.COMPLETED)
    assert dl.items.get(item_id=clone.id).status(task_id=task.id) == "completed"
    parent = clone.spec["parentDatasetItemId"]
    other = next(c for c in state["held"][A2] if c.spec.get("parentDatasetItemId") == parent)
    assert dl.items.get(item_id=other.id).status(task_id=task.id) is None
    state["clone_done"] = clone.id


@step("2. task.set_status(item_ids=[clones]) by their holder sets each clone's status")
def _():
    task = state["consensus"]
    ids = [c.id for c in state["held"][A2][:3]]
    with as_user(A2):
        task.set_status(status="completed", operation="create", item_ids=ids)
    assert [dl.items.get(item_id=i).status(task_id=task.id) for i in ids] == ["completed"] * 3


# ------------------------------------------------------------------ 3. taskStatusLog


@step("3. metadata.system.taskStatusLog appends {action, status: {taskId, assignmentId, status, creator, timestamp}}")
def _():
    task = state["consensus"]
    clone_id = state["clone_done"]
    with as_user(A1):
        dl.items.get(item_id=clone_id).update_status(status=dl.ItemStatus.COMPLETED, clear=True)
        dl.items.get(item_id=clone_id).update_status(status="discard", task_id=task.id)
    log = dl.items.get(item_id=clone_id).metadata["system"]["taskStatusLog"]
    assert [(e["action"], e["status"]["status"]) for e in log] == [
        ("create", "completed"),
        ("delete", "completed"),
        ("create", "discard"),
    ], log
    assert {e["status"]["creator"] for e in log} == {A1} and all(e["status"]["taskId"] == task.id for e in log)


@step("3. a bulk task.set_status logs one entry on each item it set")
def _():
    ids = [c.id for c in state["held"][A2][:3]]
    for item_id in ids:
        log = dl.items.get(item_id=item_id).metadata["system"]["taskStatusLog"]
        assert [(e["action"], e["status"]["status"], e["status"]["creator"]) for e in log] == [
            ("create", "completed", A2)
        ], log


failed = sum(1 for _n, ok in results if not ok)
print(f"dtlpy fidelity: {len(results) - failed} passed, {failed} failed", flush=True)
sys.exit(1 if failed else 0)
