"""Seed the load database through the project's own services; run in a subprocess by conftest.py:

    DATABASE_URL=postgres://…/tb_load_… .venv/bin/python -m tests.load.seed OUT.json PASSWORD

Makes project "Load" with a manager and a second manager, 50 annotators (tests/load/users.py:
LOAD_USERS less the managers, or LOAD_ANNOTATORS), a dataset of 30,000 items
(25,000 in /pull, 5,000 in /split), a pulling task over /pull (batch 10, at most 20 undone, the
DESIGN limits) and an annotation task over /split split equally among the annotators, both made by
`taskboard.annotation.creation.task_create` (set-based inserts). Items and users are bulk-created; every
user shares one password hash (hashing it 52 times would cost ~40 s of PBKDF2 here). Writes what the
locustfile and the checks need (emails, password, ids) to OUT.json.
"""

import datetime
import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskboard.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from taskboard.accounts.models import User  # noqa: E402
from taskboard.annotation.models import Assignment, AssignmentKind  # noqa: E402
from taskboard.annotation.selection import Selection  # noqa: E402
from taskboard.datasets.models import Dataset, Item, Label, Recipe  # noqa: E402
from taskboard.projects.models import Membership, Project, Role  # noqa: E402
from tests.factories import create_task  # noqa: E402
from tests.load.users import annotators  # noqa: E402

ANNOTATORS = annotators()
PULL_ITEMS = 25_000
SPLIT_ITEMS = 5_000
BATCH_SIZE = 10
MAX_BATCH_WORKLOAD = 20


def _items(dataset, folder: str, count: int) -> None:
    rows = [
        Item(
            dataset=dataset,
            dir=folder,
            name=f"frame_{i:05d}.png",
            filename=Item.join_filename(folder, f"frame_{i:05d}.png"),
            mimetype="image/png",
            metadata={"n": i},
        )
        for i in range(count)
    ]
    Item.objects.bulk_create(rows, batch_size=5000)


def main(out: str, password: str) -> None:
    started = time.perf_counter()
    hashed = make_password(password)
    with transaction.atomic():
        managers = User.objects.bulk_create(
            [User(email=f"manager{n}@load.example.com", password=hashed) for n in (1, 2)]
        )
        annotators = User.objects.bulk_create(
            [User(email=f"annotator{n:02d}@load.example.com", password=hashed) for n in range(ANNOTATORS)]
        )
        project = Project.objects.create(name="Load", created_by=managers[0])
        Membership.objects.bulk_create(
            [Membership(project=project, user=u, role=Role.MANAGER) for u in managers]
            + [Membership(project=project, user=u, role=Role.ANNOTATOR) for u in annotators]
        )
        dataset = Dataset.objects.create(project=project, name="load-frames")
        recipe = Recipe.objects.create(dataset=dataset, name="Default", is_default=True)
        Label.objects.bulk_create(
            [
                Label(recipe=recipe, name=name, color=color, position=i)
                for i, (name, color) in enumerate([("car", "#1f77b4"), ("person", "#d62728"), ("bike", "#2ca02c")])
            ]
        )
        _items(dataset, "/pull", PULL_ITEMS)
        _items(dataset, "/split", SPLIT_ITEMS)
    due = timezone.now() + datetime.timedelta(days=7)
    pulling = create_task(
        dataset=dataset,
        created_by=managers[0],
        name="Pull under load",
        selection=Selection(mode="folder", folder="/pull"),
        assignees=annotators,
        due_at=due,
        allocation="pulling",
        batch_size=BATCH_SIZE,
        max_batch_workload=MAX_BATCH_WORKLOAD,
    )
    split = create_task(
        dataset=dataset,
        created_by=managers[0],
        name="Split under load",
        selection=Selection(mode="folder", folder="/split"),
        assignees=annotators,
        due_at=due,
    )

    def assignments(task) -> dict[str, int]:
        return dict(
            Assignment.objects.filter(task=task, kind=AssignmentKind.WORK).values_list("assignee__email", "pk")
        )

    pull_ids, split_ids = assignments(pulling), assignments(split)
    seed = {
        "password": password,
        "project_id": project.pk,
        "pulling_task_id": pulling.pk,
        "split_task_id": split.pk,
        "batch_size": BATCH_SIZE,
        "max_batch_workload": MAX_BATCH_WORKLOAD,
        "items": PULL_ITEMS + SPLIT_ITEMS,
        "managers": [u.email for u in managers],
        "annotators": [
            {"email": u.email, "pulling_assignment": pull_ids[u.email], "split_assignment": split_ids[u.email]}
            for u in annotators
        ],
    }
    with open(out, "w") as handle:
        json.dump(seed, handle, indent=1)
    print(
        f"seeded {PULL_ITEMS + SPLIT_ITEMS} items, {len(annotators)} annotators, "
        f"tasks {pulling.pk} (pulling) and {split.pk} (split) in {time.perf_counter() - started:.1f}s"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
