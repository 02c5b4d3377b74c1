"""`python manage.py demo`: a project to look around in, with people, data and work under way.

Idempotent: every run converges on the same state. What exists is kept (tasks included, so
work done in them survives a re-run); what is missing is made. Tasks are made through the
same services the wizard and the API use, so the demo shows exactly what users would get.

`--arrivals N` also adds N new street frames, in no task, to a folder of their own
(`--arrivals-folder`, default /arrivals), each run N more: items that arrive after the tasks
were made, for trying "add the unassigned items" (the dtlpy conformance run uses it).
"""

import datetime
import io
import time

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from taskboard.accounts.models import User
from taskboard.annotation.creation import task_create
from taskboard.annotation.models import AnnotationTask, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.annotation.spec import Pulling, TaskSpec, equal_people
from taskboard.datasets.folders import normalize_folder
from taskboard.datasets.models import Annotation, Dataset, Item, Label, Recipe
from taskboard.projects.models import Membership, Project, Role
from taskboard.work import flow

PASSWORD = "demo"
PROJECT = "Demo"
SITE_URL = "http://127.0.0.1:8000/"
PEOPLE = [
    # email, name, role
    ("owner@example.com", "Olivia Owner", Role.OWNER),
    ("manager@example.com", "Max Manager", Role.MANAGER),
    ("annotator1@example.com", "Ann One", Role.ANNOTATOR),
    ("annotator2@example.com", "Ben Two", Role.ANNOTATOR),
    ("annotator3@example.com", "Cleo Three", Role.ANNOTATOR),
    ("reviewer@example.com", "Rui Reviewer", Role.REVIEWER),
]
# 2,000 street images in nested folders; the counts are what the tasks below split.
STREET_FOLDERS = {
    "/city/day": 360,
    "/city/day/crossings": 140,
    "/city/night": 300,
    "/highway": 420,
    "/suburb/rain": 260,
    "/suburb/sunny": 240,
    "/countryside/fields": 280,
}
STREET_LABELS = [
    ("car", "#1f77b4"),
    ("person", "#d62728"),
    ("bicycle", "#2ca02c"),
    ("traffic light", "#ff7f0e"),
    ("truck", "#9467bd"),
    ("bus", "#8c564b"),
]
DOCUMENT_FOLDERS = {
    # folder: (kind, count)
    "/invoices": ("invoice", 24),
    "/receipts": ("receipt", 24),
    "/letters": ("letter", 12),
}
DOCUMENT_LABELS = [("invoice", "#4c78a8"), ("receipt", "#f58518"), ("letter", "#54a24b")]
IMAGE_COLOURS = ["#7f8c8d", "#2c3e50", "#16a085", "#c0392b"]
IMAGE_SHAPES = ["box", "disc", "triangle"]


class Command(BaseCommand):
    help = "Create (or complete) the demo project: users, datasets with items, recipes and two tasks under way."

    def add_arguments(self, parser):
        parser.add_argument(
            "--arrivals",
            type=int,
            default=0,
            metavar="N",
            help="also add N new street frames (1 to 10000), in no task, to --arrivals-folder",
        )
        parser.add_argument(
            "--arrivals-folder", default="/arrivals", metavar="FOLDER", help="where arrivals go (default /arrivals)"
        )

    def handle(self, *args, **options):
        arrivals = options["arrivals"]
        if arrivals and not 1 <= arrivals <= 10_000:
            raise CommandError("--arrivals: give a number of frames from 1 to 10000.")
        try:
            arrivals_folder = normalize_folder(options["arrivals_folder"])
        except ValidationError as error:
            raise CommandError(f"--arrivals-folder: {' '.join(error.messages)}") from None
        if arrivals and (arrivals_folder == "/" or arrivals_folder in STREET_FOLDERS):
            raise CommandError("--arrivals-folder: choose a folder of their own, not / or a demo folder.")
        started = time.monotonic()
        with transaction.atomic():
            people = self.people()
            project = self.project(people)
            street = self.dataset(project, "street-scenes", "Dash-cam frames from a city, its suburbs and roads.")
            documents = self.dataset(project, "documents", "Scanned paperwork to sort.")
            street_recipe = self.recipe(street, STREET_LABELS, "Draw a box around every road user.")
            self.recipe(documents, DOCUMENT_LABELS, "Say what kind of document this is.")
            self.street_items(street)
            self.document_items(documents)
            self.annotations(street, street_recipe, people["annotator3@example.com"])
        tasks = self.tasks(street, people)
        self.report(project, street, documents, tasks, time.monotonic() - started)
        if arrivals:
            made = self.arrivals(street, arrivals_folder, arrivals)
            self.stdout.write(f"Added {len(made)} new frames, in no task, to {arrivals_folder}.")

    # People and the project

    def people(self) -> dict[str, User]:
        # Hashing is the slow part: hash once, share the hash, and verify a stored hash only once per run.
        password = make_password(PASSWORD)
        known = {password}
        people = {}
        for email, name, _role in PEOPLE:
            is_owner = email == "owner@example.com"
            fields = {"name": name, "is_staff": is_owner, "is_superuser": is_owner, "is_active": True}
            user, created = User.objects.update_or_create(
                email=email, defaults=fields, create_defaults={**fields, "password": password}
            )
            # Keep the printed password true even if someone changed it since the last run.
            if not created and user.password not in known:
                if user.check_password(PASSWORD):
                    known.add(user.password)
                else:
                    User.objects.filter(pk=user.pk).update(password=password)
            people[email] = user
        return people

    def project(self, people) -> Project:
        project, _ = Project.objects.get_or_create(
            name=PROJECT,
            defaults={
                "description": "A demo: street scenes to label and documents to sort.",
                "created_by": people["owner@example.com"],
            },
        )
        for email, _name, role in PEOPLE:
            Membership.objects.update_or_create(project=project, user=people[email], defaults={"role": role})
        return project

    # Data

    def dataset(self, project, name, description) -> Dataset:
        dataset, _ = Dataset.objects.get_or_create(project=project, name=name, defaults={"description": description})
        return dataset

    def recipe(self, dataset, labels, instructions) -> Recipe:
        recipe = dataset.default_recipe
        if recipe is None:
            recipe, _ = Recipe.objects.get_or_create(
                dataset=dataset, name="Default", defaults={"is_default": True, "instructions": instructions}
            )
        have = set(recipe.labels.values_list("name", flat=True))
        Label.objects.bulk_create(
            [
                Label(recipe=recipe, name=name, color=color, position=position)
                for position, (name, color) in enumerate(labels)
                if name not in have
            ]
        )
        return recipe

    def street_items(self, dataset) -> None:
        images = [self.image(colour, shape) for colour in IMAGE_COLOURS for shape in IMAGE_SHAPES]
        rows, n = [], 0
        for folder, count in STREET_FOLDERS.items():
            for i in range(count):
                n += 1
                # Every third frame was labelled before the demo's tasks began.
                rows.append(self.frame(dataset, folder, i + 1, images[n % len(images)], n, annotated=n % 3 == 0))
        self.add_missing(dataset, rows)

    def arrivals(self, dataset, folder: str, count: int) -> list[Item]:
        """`count` new frames in `folder`, numbered on from the ones already there."""
        images = [self.image(colour, shape) for colour in IMAGE_COLOURS for shape in IMAGE_SHAPES]
        have = set(Item.objects.filter(dataset=dataset, dir=folder).values_list("name", flat=True))
        rows: list[Item] = []
        n = len(have)
        while len(rows) < count:
            n += 1
            if f"frame_{n:05d}.png" not in have:
                rows.append(self.frame(dataset, folder, n, images[n % len(images)], n))
        return Item.objects.bulk_create(rows, batch_size=1000)

    @staticmethod
    def frame(dataset, folder: str, number: int, image, n: int, *, annotated: bool = False) -> Item:
        """Street frame `number` of `folder`, its camera alternating with `n`."""
        scene = folder.strip("/").split("/")
        name = f"frame_{number:05d}.png"
        return Item(
            dataset=dataset,
            dir=folder,
            name=name,
            filename=Item.join_filename(folder, name),
            mimetype="image/png",
            file=image,
            annotated=annotated,
            metadata={
                "camera": ("front", "rear")[n % 2],
                "area": scene[0],
                "conditions": scene[-1],
                "width": 64,
                "height": 48,
            },
        )

    def document_items(self, dataset) -> None:
        files = {kind: self.document(kind) for kind in ("invoice", "receipt", "letter")}
        rows = []
        for folder, (kind, count) in DOCUMENT_FOLDERS.items():
            for i in range(count):
                extension, mimetype = ("txt", "text/plain") if kind == "letter" else ("pdf", "application/pdf")
                name = f"{kind}-{i + 1:03d}.{extension}"
                rows.append(
                    Item(
                        dataset=dataset,
                        dir=folder,
                        name=name,
                        filename=Item.join_filename(folder, name),
                        mimetype=mimetype,
                        file=files[kind],
                        metadata={"pages": 1 + i % 3, "kind": kind},
                    )
                )
        self.add_missing(dataset, rows)

    def add_missing(self, dataset, rows) -> None:
        have = set(Item.objects.filter(dataset=dataset).values_list("filename", flat=True))
        Item.objects.bulk_create([row for row in rows if row.filename not in have], batch_size=1000)

    def annotations(self, dataset, recipe, by) -> None:
        labels = list(recipe.labels.order_by("position"))
        missing = Item.objects.filter(dataset=dataset, annotated=True, annotations__isnull=True).values_list(
            "pk", flat=True
        )
        Annotation.objects.bulk_create(
            [
                Annotation(
                    item_id=pk,
                    label=labels[pk % len(labels)],
                    label_name=labels[pk % len(labels)].name,
                    data={"type": "box", "coordinates": [[8 + pk % 20, 6], [40, 30 + pk % 12]]},
                    created_by=by,
                )
                for pk in missing.iterator()
            ],
            batch_size=1000,
        )

    # Files: a few small ones, written once and shared by many items.

    def image(self, colour: str, shape: str) -> str:
        path = f"demo/street-{colour.lstrip('#')}-{shape}.png"
        if not default_storage.exists(path):
            image = Image.new("RGB", (64, 48), colour)
            draw = ImageDraw.Draw(image)
            box = (18, 10, 46, 38)
            if shape == "box":
                draw.rectangle(box, fill="#f1c40f")
            elif shape == "disc":
                draw.ellipse(box, fill="#ecf0f1")
            else:
                draw.polygon([(32, 8), (48, 40), (16, 40)], fill="#e67e22")
            self.save(path, image, "PNG")
        return path

    def document(self, kind: str) -> str:
        if kind == "letter":
            path = "demo/letter.txt"
            if not default_storage.exists(path):
                default_storage.save(path, ContentFile(b"Dear customer,\n\nThank you for your order.\n"))
            return path
        path = f"demo/{kind}.pdf"
        if not default_storage.exists(path):
            page = Image.new("RGB", (210, 297), "white")
            draw = ImageDraw.Draw(page)
            draw.text((20, 20), kind.upper(), fill="black")
            for y in range(60, 260, 20):
                draw.line((20, y, 190, y), fill="#bbbbbb")
            self.save(path, page, "PDF")
        return path

    def save(self, path, image, fmt) -> None:
        buffer = io.BytesIO()
        image.save(buffer, fmt)
        default_storage.save(path, ContentFile(buffer.getvalue()))

    # Work under way

    def tasks(self, dataset, people) -> list[AnnotationTask]:
        manager = people["manager@example.com"]
        one, two, three = (people[f"annotator{n}@example.com"] for n in (1, 2, 3))
        now = timezone.now()
        # Each task, and who has done how much of it: (completed, discarded) of the items they hold, in order.
        specs: list[tuple[TaskSpec, dict[User, tuple[int, int]]]] = [
            (
                TaskSpec(
                    dataset_id=dataset.pk,
                    owner_id=manager.pk,
                    name="City by day: road users",
                    description="Box every car, person and bicycle in the daytime city frames.",
                    selection=Selection(mode="folder", folder="/city/day", include_subfolders=True),
                    people=equal_people([one.pk, two.pk]),
                    due_at=now + datetime.timedelta(days=5),
                    priority=3,
                ),
                {one: (60, 6), two: (30, 0)},
            ),
            (
                TaskSpec(
                    dataset_id=dataset.pk,
                    owner_id=manager.pk,
                    name="Highway: pull and label",
                    description="Pulling task: take a batch, label it, get more.",
                    selection=Selection(mode="folder", folder="/highway"),
                    people=equal_people([one.pk, two.pk, three.pk]),
                    pulling=Pulling(batch_size=10, max_batch_workload=15),
                    due_at=now + datetime.timedelta(days=10),
                    priority=2,
                ),
                {three: (6, 1)},
            ),
        ]
        tasks = []
        for spec, progress in specs:
            task = AnnotationTask.objects.filter(project=dataset.project, name=spec.name).first()
            if task is None:
                with transaction.atomic():
                    task = task_create(spec=spec, by=manager)
                    for person, (completed, discarded) in progress.items():
                        self.work(task, person, completed, discarded)
            tasks.append(task)
        return tasks

    def work(self, task, person, completed, discarded) -> None:
        held = (
            TaskItem.objects.filter(task=task, assignment__assignee=person, in_queue=False)
            .select_related("item")
            .order_by("rank")[: completed + discarded]
        )
        for n, task_item in enumerate(held):
            status = "completed" if n < completed else "discard"
            flow.item_status_set(task=task, item=task_item.item, status=status, by=person)

    def report(self, project, street, documents, tasks, seconds) -> None:
        items = Item.objects.filter(dataset=street)
        annotated = items.filter(annotated=True).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready in {seconds:.1f} s: project {project.name}; {street.name}: {items.count():,} items "
                f"({annotated:,} annotated); {documents.name}: {documents.items.count()} items; "
                f"tasks: {', '.join(task.name for task in tasks)}."
            )
        )
        width = max(len(email) for email, _name, _role in PEOPLE)
        lines = [
            "",
            f"Open {SITE_URL} and sign in as any of these people, password: {PASSWORD}",
        ]
        for email, _name, role in PEOPLE:
            extra = f"  (superuser: admin site at {SITE_URL}admin/)" if email == "owner@example.com" else ""
            lines.append(f"  {email:<{width}}  {role.label.lower()}{extra}")
        self.stdout.write("\n".join(lines))
