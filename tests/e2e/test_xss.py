"""An XSS corpus in every user-controlled string, rendered in every page, partial and admin page, in Chromium.

The world is built through the services (and factories where the app has no service, e.g. projects
and labels), so each value is one a real user could store. Every GET page route of
tests/trust/routes.py ROUTES is visited by the persona who may see it, the htmx partials are both
swapped in by their page and fetched directly (HX-Request: true), and the admin shows every
registered model's changelist and one change page to a superuser.

The site's enforcing Content-Security-Policy would stop an injected script from running, so running
script is not the only thing looked for. On every page:

- dialogs: `page.on("dialog")`, plus an init script that replaces alert/confirm/prompt/print with
  a trap reporting to Python;
- injected elements: any `[data-xss]` element or attribute, the 7-character colour payload's `<xss>`
  element, any inline `on*` handler attribute, a `javascript:`/`vbscript:`/`data:text/html` URL in
  href/src/action/formaction, an inline executable <script>, a JSON <script> that no longer parses,
  an iframe/object/embed/base element, or template text that got evaluated (`tpl:49:`);
- CSP violations: `securitypolicyviolation` events and "Content Security Policy" console messages.

Prints one line: FIGURE xss payloads=… fields=… pages=… admin_pages=… partials=… dialogs=…
injected_elements=… csp_violations=…

Where the app rightly refuses a value, the most hostile accepted one is stored instead:
- item urls: the manifest refuses `javascript:alert(1)` (http/https only; asserted), so an https URL
  whose query breaks out of attributes (`"><svg/data-xss/onload=…>`) is stored;
- filenames: "/" splits folders and "\\" or control characters are refused, so a payload with "/"
  becomes hostile folders plus a hostile name;
- label colours: the database allows only #rrggbb (not free text); task status colours are cut to
  7 characters, so `"><xss>` is stored;
- emails: the EmailValidator accepts a quoted local part (`"<svg/data-xss/onload=…>"@…`), and an
  unquoted one may start with "=" (a formula in the people CSV);
- annotation data: no service writes it (the API takes no annotations): set on an annotation the
  work service made.
Not covered: values only code writes (job kind/params, command specs, mimetypes, counters), the
JSON only the pipelines API takes (settings, variables), and the API task's query text, which no page
or admin shows.

CSV exports (task items, people) are checked as files: text/csv, and no cell a spreadsheet would run.
"""

import csv
import datetime
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.validators import validate_email
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from taskboard.annotation import caps, priority, skips
from taskboard.annotation import people as people_services
from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, BulkOperation, TaskItem, TaskType
from taskboard.annotation.picks import items_pick
from taskboard.annotation.selection import Selection
from taskboard.annotation.wizard import SESSION_PREFIX
from taskboard.annotation.workload import WorkloadUnit
from taskboard.api.auth import token_issue
from taskboard.api.ids import api_id
from taskboard.api.models import ApiCommand
from taskboard.datasets import services as dataset_services
from taskboard.datasets.models import Annotation, Item
from taskboard.discussion.services import comment_post, thread_resolve
from taskboard.jobs import services as job_services
from taskboard.notifications.models import EventKind, Notification, Webhook, WebhookDelivery
from taskboard.notifications.services import notify
from taskboard.pipelines import editing, running
from taskboard.pipelines.models import FailedStep, NodeKind
from taskboard.projects.models import Role
from taskboard.quality.models import (
    ActivityMark,
    GroundTruth,
    GroundTruthAnswer,
    Honeypot,
    Overturn,
    PayRate,
    ProjectQuality,
    QualificationAttempt,
    Rejection,
    RejectReason,
    ReviewHoneypot,
    SamplingState,
    TaskQuality,
)
from taskboard.work import flow, stuck
from taskboard.work import services as work_services
from tests.factories import (
    DatasetFactory,
    LabelFactory,
    MembershipFactory,
    ProjectFactory,
    RecipeFactory,
    UserFactory,
    create_task,
    in_days,
)
from tests.trust.routes import ROUTES, url_of

pytestmark = pytest.mark.e2e

# ------------------------------------------------------------------ the corpus

PAYLOADS = {
    "img": "<img src=x data-xss=1 onerror=alert(1)>",
    "svg": '"><svg data-xss=1 onload=alert(1)>',
    "script": "'><script data-xss=1>alert(1)</script>",
    "textarea": "</textarea><b data-xss=1>",
    "template": "tpl:{{7*7}}: tpl:{{ 7|add:42 }}: ${7*7}",
    "jsurl": "javascript:alert(1)",
    "json": "</script><b data-xss=1>",
    "attr_dq": '" data-xss="1" onmouseover="alert(1)',
    "attr_sq": "' data-xss='1' onfocus='alert(1)' autofocus='",
    "attr_uq": "x data-xss=1 onmouseover=alert(1)",
    "comment": "--><b data-xss=1>",
    "title": "</title><b data-xss=1>",
    "svgtext": "</text></svg><b data-xss=1>",
    "link": '<a data-xss=1 href="javascript:alert(1)">x</a>',
    "iframe": '<iframe data-xss=1 srcdoc="<script>parent.alert(1)</script>"></iframe>',
    "polyglot": "'\"--></style></title></textarea></script><svg data-xss=1 onload=alert(1)>",
    "formula": '=HYPERLINK("javascript:alert(1)","x")',  # a spreadsheet formula, for the CSV exports
    "colour": '"><xss>',  # task status colours keep 7 characters
    "email": '"<svg/data-xss/onload=alert(1)>"@',  # a quoted local part; see emails below
}
# Payloads without "/" can be file names; the others become folders as well.
SPECIAL = ("formula", "colour", "email")
NAME_SAFE = [k for k, p in PAYLOADS.items() if "/" not in p and k not in SPECIAL]
ROTATION = [k for k in PAYLOADS if k not in SPECIAL]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Corpus:
    """Hands out hostile values, each tagged `xqNNNq` so the test can tell where it is rendered."""

    def __init__(self):
        self.fields: dict[str, str] = {}  # tag -> field description
        self.used: set[str] = set()
        self._turn = 0

    def tag(self, what: str) -> str:
        tag = f"xq{len(self.fields):03d}q"
        self.fields[tag] = what
        return tag

    def next_key(self, pool=None) -> str:
        pool = pool or ROTATION
        key = pool[self._turn % len(pool)]
        self._turn += 1
        return key

    def value(self, what: str, key: str | None = None, *, limit: int | None = None, pool=None) -> str:
        key = key or self.next_key(pool)
        self.used.add(key)
        value = f"{self.tag(what)} {PAYLOADS[key]}"
        return value[:limit] if limit else value

    def formula(self, what: str, then: str) -> str:
        """A value a spreadsheet would run (it starts with "="), then an HTML payload."""
        self.used.update(("formula", then))
        return f'=HYPERLINK("javascript:alert(1)","{self.tag(what)}") {PAYLOADS[then]}'

    def email(self, what: str, inner: str, *, quoted: bool = True) -> str:
        self.used.add("email")
        address = f'"{inner}{self.tag(what)}"@example.com' if quoted else f"{inner}{self.tag(what)}@example.com"
        validate_email(address)  # what the admin's and the API's email checks accept
        return address


@dataclass
class World:
    corpus: Corpus
    users: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "#4c78a8").save(out, format="PNG")
    return out.getvalue()


def build_world() -> World:
    c = Corpus()
    w = World(corpus=c)
    o = w.objects

    # People: emails with quoted local parts, free-text display names.
    def person(key, inner, role=None, *, quoted=True, **extra):
        email = c.email(f"{key} email", inner, quoted=quoted)
        user = UserFactory(email=email, name=c.value(f"{key} name", limit=150), **extra)
        w.users[key] = user
        if role:
            MembershipFactory(project=o["project"], user=user, role=role)
        return user

    o["project"] = project = ProjectFactory(
        name=c.value("project name", "polyglot", limit=200), description=c.value("project description", "jsurl")
    )
    manager = person("manager", "<svg/data-xss/onload=alert(1)>", Role.MANAGER)
    person("owner", "'><img/src=x/data-xss/onerror=alert(1)>", Role.OWNER)
    bob = person("annotator", "</textarea><b/data-xss>", Role.ANNOTATOR)
    # An unquoted local part may start with "=": a formula in the people CSV.
    carol = person("annotator2", "=cmd|'/ccalc'!a0", Role.ANNOTATOR, quoted=False)
    rita = person("reviewer", "'/data-xss='1'/", Role.REVIEWER)
    person("superuser", "{{7*7}}tpl:{{7|add:42}}:", None, is_staff=True, is_superuser=True)
    group = Group.objects.create(name=c.value("auth group name", limit=150))
    w.users["superuser"].groups.add(group)

    o["dataset"] = dataset = DatasetFactory(
        project=project, name=c.value("dataset name", "svg"), description=c.value("dataset description")
    )
    o["recipe"] = recipe = RecipeFactory(
        dataset=dataset, name=c.value("recipe name", "textarea"), instructions=c.value("recipe instructions")
    )
    RecipeFactory(dataset=dataset, name=c.value("second recipe name", "title"), is_default=False)
    labels = [
        LabelFactory(recipe=recipe, name=c.value(f"label name {n}", key, limit=100), color=colour, position=n)
        for n, (key, colour) in enumerate([("img", "#1f77b4"), ("attr_dq", "#d62728"), ("jsurl", "#2ca02c")])
    ]

    # Items through a JSON Lines manifest: hostile folders, names and metadata keys and values.
    # Every item carries the whole metadata corpus: keys and values, nested too.
    metadata = {c.value(f"metadata key ({key})", key): c.value(f"metadata value ({key})", key) for key in ROTATION}
    metadata["nested"] = {"link": c.value("metadata nested value", "jsurl"), "list": [c.value("metadata list value")]}
    rows, folders = [], []
    for key in PAYLOADS:
        if key in ("colour", "email"):
            continue
        folder_tag = c.value(f"folder ({key})", key)
        folders.append("/" + folder_tag)
        name = c.value(f"item name ({key})", key if key in NAME_SAFE else None, pool=NAME_SAFE)
        rows.append({"filename": f"/{folder_tag}/{name}.jpg", "metadata": metadata})
    hostile_url = "https://img.example/a.txt?q=" + '"><svg/data-xss/onload=alert(1)>' + c.tag("item url")
    rows.append({"filename": f"/docs/{c.value('text item name', 'attr_sq')}.txt", "url": hostile_url})
    manifest = "\n".join(json.dumps(r) for r in rows).encode()
    result = dataset_services.items_import_manifest(
        dataset=dataset, file=SimpleUploadedFile("items.jsonl", manifest), by=manager
    )
    assert result.created == len(rows)
    refused = json.dumps({"filename": "/refused.jpg", "url": PAYLOADS["jsurl"]}).encode()
    with pytest.raises(ValidationError, match="http or https"):
        dataset_services.items_import_manifest(
            dataset=dataset, file=SimpleUploadedFile("r.jsonl", refused), by=manager
        )
    c.used.add("jsurl")
    # Uploaded images: a hostile upload folder and file names.
    upload_folder = "/" + c.value("upload folder", "attr_uq")
    files = [
        SimpleUploadedFile(c.value(f"upload file name {n}", key) + ".png", png_bytes(), content_type="image/png")
        for n, key in enumerate(["img", "svg"])
    ]
    uploaded = dataset_services.items_upload(dataset=dataset, files=files, folder=upload_folder, by=manager)
    o["image_item"] = uploaded[0]
    items = list(Item.objects.filter(dataset=dataset).order_by("dir", "name", "id"))
    o["item"] = items[0]

    # The first hostile folder ("/xq… <img …>") holds one item: consensus, the API task and pipelines use it.
    consensus_folder = folders[0]
    assert Item.objects.filter(dataset=dataset, dir=consensus_folder).count() == 1

    # The annotation task, with custom statuses, a description and metadata.
    done_key = c.value("status key (done)", "img", limit=50)
    open_key = c.value("status key (not done)", "svg", limit=50)
    statuses = [
        {"key": done_key, "label": c.value("status label (done)", limit=100), "color": PAYLOADS["colour"]},
        {
            "key": open_key,
            "label": c.value("status label (not done)", limit=100),
            "color": "'><xss>",
            "is_done": False,
        },
    ]
    c.used.add("colour")
    o["task"] = task = create_task(
        dataset=dataset,
        created_by=manager,
        name=c.value("task name", "script", limit=200),
        description=c.value("task description", "jsurl"),
        metadata={c.value("task metadata key"): c.value("task metadata value")},
        selection=Selection(mode="all"),
        assignees=[bob],
        statuses=statuses,
        due_at=in_days(7),
    )
    assignment = Assignment.objects.get(task=task, assignee=bob)
    bobs = list(assignment.task_items.order_by("rank").select_related("item", "assignment"))
    for ti in bobs[:4]:
        for label in labels:
            work_services.item_label_toggle(task_item=ti, label=label, by=bob)
        flow.item_status_set(task=task, item=ti.item, status=done_key, by=bob)
        work_services.item_time_beat(task_item=ti, by=bob, marks_ago_ms=[5000, 0])
    flow.item_status_set(task=task, item=bobs[4].item, status=open_key, by=bob)

    # QA of it: the reviewer rejects one item with a comment and approves another.
    o["qa_task"] = qa = create_task(
        dataset=dataset,
        created_by=manager,
        task_type=TaskType.QA,
        parent=task,
        name=c.value("QA task name", "json", limit=200),
        selection=Selection(mode="all"),
        assignees=[rita],
        statuses=[
            {"key": "approved", "label": c.value("QA status label", "comment", limit=100), "color": "#2e7d32"},
            {"key": c.value("QA status key", "attr_dq", limit=50), "color": "#757575"},
        ],
        due_at=in_days(5),
    )
    qa_assignment = Assignment.objects.get(task=qa, assignee=rita)
    qa_items = list(qa_assignment.task_items.order_by("rank").select_related("item", "assignment"))
    rejected = flow.item_reject(qa_task_item=qa_items[0], comment=c.formula("QA reject comment", "textarea"), by=rita)
    flow.item_status_set(task=qa, item=qa_items[1].item, status="approved", by=rita)
    o["qa_assignment"], o["qa_item"] = qa_assignment, rejected
    o["assignment"] = assignment
    o["task_item"] = TaskItem.objects.get(task=task, item_id=rejected.item_id, assignment__kind=AssignmentKind.WORK)
    assert o["task_item"].rework and o["task_item"].assignment_id == assignment.pk

    # Consensus: two annotators label one item, which scores its agreement (majority label names).
    o["consensus_task"] = consensus = create_task(
        dataset=dataset,
        created_by=manager,
        name=c.value("consensus task name", "attr_uq", limit=200),
        selection=Selection(mode="folder", folder=consensus_folder),
        assignees=[bob, carol],
        consensus_percentage=100,
        consensus_assignees=2,
        due_at=in_days(3),
    )
    for person_ in (bob, carol):
        ti = TaskItem.objects.filter(task=consensus, assignment__assignee=person_, copy__gt=0).order_by("rank").first()
        work_services.item_label_toggle(task_item=ti, label=labels[0], by=person_)
        flow.item_status_set(task=consensus, item=ti.item, status="completed", by=person_, copy=ti.copy)
    o["consensus_assignment"] = Assignment.objects.get(task=consensus, assignee=bob)

    # A task made through the Dataloop API: its command and the actions it was sent.
    token = token_issue(user=manager, note=c.value("API token note", "attr_sq", limit=200))
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = {
        "name": c.value("API task name", "title", limit=200),
        "datasetId": api_id("dataset", dataset.pk),
        "projectId": api_id("project", project.pk),
        "dueDate": int((timezone.now().timestamp() + 86400 * 9) * 1000),
        "workload": [{"assigneeId": bob.email, "load": 100}],
        "description": {"content": c.value("API task description", "iframe")},
        "metadata": {c.value("API task metadata key", "svg"): c.value("API task metadata value", "json")},
        "query": {"filter": {"$and": [{"dir": consensus_folder}]}},
        "availableActions": [
            {"action": c.value("API action", "link", limit=50), "displayName": c.value("API action label")}
        ],
    }
    response = api.post("/api/v1/annotationtasks", body, content_type="application/json")
    assert response.status_code == 200, response.content
    o["api_task_name"] = body["name"]
    o["command"] = ApiCommand.objects.filter(user=manager).latest("pk")

    # Pipelines: one installed and run (counts, tasks it made), one being edited (its forms).
    def pipeline(n, *, install):
        p = editing.pipeline_create(
            project=project,
            name=c.value(f"pipeline {n} name", limit=200),
            description=c.value(f"pipeline {n} description"),
            by=manager,
        )
        source = editing.node_add(
            pipeline=p,
            by=manager,
            kind=NodeKind.DATASET,
            name=c.value(f"pipeline {n} dataset node name", "svgtext", limit=200),
            column=0,
            row=0,
            dataset=dataset,
            folder=consensus_folder,
        )
        node_key = c.value(f"pipeline {n} node status key", "img", limit=50)
        work = editing.node_add(
            pipeline=p,
            by=manager,
            kind=NodeKind.ANNOTATION,
            name=c.value(f"pipeline {n} task node name", "svg", limit=200),
            column=1,
            row=0,
            dataset=dataset,
            recipe=recipe,
            workload=[WorkloadUnit(bob, 100)],
            statuses=[{"key": node_key, "label": c.value(f"pipeline {n} node status label", limit=100)}],
        )
        review = editing.node_add(
            pipeline=p,
            by=manager,
            kind=NodeKind.QA,
            name=c.value(f"pipeline {n} QA node name", "title", limit=200),
            column=2,
            row=0,
            dataset=dataset,
            recipe=recipe,
            workload=[WorkloadUnit(rita, 100)],
        )
        first = editing.connection_add(pipeline=p, source=source, target=work, status="", by=manager)
        editing.connection_add(pipeline=p, source=work, target=review, status=node_key, by=manager)
        if install:
            running.pipeline_install(pipeline=p, by=manager)
            running.pipeline_run(pipeline=p, selection=Selection(mode="folder", folder=consensus_folder), by=manager)
        return p, work, first

    o["pipeline_live"], live_work, _ = pipeline(1, install=True)
    o["pipeline"], o["node"], o["connection"] = pipeline(2, install=False)
    # A failed move: its reason quotes names people chose (a node, a person), shown in the editor.
    FailedStep.objects.create(
        pipeline=o["pipeline_live"],
        to_node=live_work,
        status="",
        error="Could not add items: " + c.value("failed move reason", "polyglot"),
    )

    # Jobs: one failed with a hostile error, one done naming a task, one running (its page polls).
    failed = job_services.job_create(kind="task_create", params={}, project=project, created_by=manager, total=10)
    job_services.job_start(job_id=failed.pk)
    o["job"] = job_services.job_fail(job=failed, error="name: " + c.value("job error text", "polyglot"))
    ok = job_services.job_create(kind="task_create", params={}, project=project, created_by=manager, total=3)
    job_services.job_start(job_id=ok.pk)
    o["job_ok"] = job_services.job_succeed(
        job=ok,
        result={
            "task_id": task.pk,
            "task_name": task.name,
            "task_url": reverse("dashboards:task-detail", args=[task.pk]),
        },
    )
    # No service writes annotation data (the API takes no annotations): set it on one the work service made.
    o["annotation"] = Annotation.objects.filter(task=task).order_by("pk").first()
    Annotation.objects.filter(pk=o["annotation"].pk).update(
        data={c.value("annotation data key"): c.value("annotation data value")}
    )
    # Distribution control: a pulled batch (a lease), a cap, a skip with a hostile reason, a bulk
    # priority (an undoable operation) and stuck work.
    o["pulled_task"] = create_task(
        dataset=dataset,
        created_by=manager,
        name=c.value("pulling task name", "img", limit=200),
        selection=Selection(mode="all"),
        assignees=[bob],
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
        due_at=in_days(4),
    )
    caps.cap_set(task=task, user=bob, by=manager, max_items=1000)
    skips.skip_policy_set(task=task, by=manager, allowed=True, reason_required=True, skip_to="manager")
    spare = TaskItem.objects.filter(task=task, assignment=assignment, status__isnull=True, rework=False).last()
    skips.item_skip(task_item=spare, by=bob, reason=c.value("skip reason", "textarea"))
    priority.items_priority_set(task=task, selection=None, priority=70, by=manager)
    o["operation"] = BulkOperation.objects.filter(task=task).latest("pk")
    items_pick(task=task, rows=TaskItem.objects.filter(task=task), by=manager)  # the admin's "select all"
    people_services.pause_person(project=project, user=carol, task=task, by=manager, reason=c.value("pause reason"))
    stuck.stuck_policy_set(task=task, after_hours=1, action="flag", by=manager)
    stuck.stuck_sweep_task(task=task, now=timezone.now() + datetime.timedelta(hours=2))
    running_job = job_services.job_create(kind="task_create", params={}, project=project, created_by=manager, total=10)
    o["job_running"] = job_services.job_start(job_id=running_job.pk)
    # A pause with a hostile reason, so the pauses admin pages are tried too (before the
    # hostile notification, which stays the newest).
    o["pause"] = people_services.pause_person(
        project=project,
        user=w.users["annotator"],
        by=manager,
        task=o["consensus_task"],
        reason=c.value("pause reason", "svg"),
    )
    notify(
        kind=EventKind.MENTION,
        recipients=[bob],
        event_key="xss-notification",
        title=c.value("notification title", "svg", limit=300),
        body=c.value("notification body", "iframe"),
        project=project,
    )
    o["notification"] = Notification.objects.filter(recipient=bob).latest("pk")
    people_services.pause_person(project=project, user=carol, by=manager, reason=c.value("pause reason", "polyglot"))
    # Quality: written as rows (the gates' services need a live flow); hostile text where people type it.
    qa_task, item = o["qa_task"], o["task_item"].item
    reason = RejectReason.objects.create(project=project, name=c.value("reject reason", "svg", limit=100))
    ProjectQuality.objects.get_or_create(project=project)
    TaskQuality.objects.create(task=task, honeypot_rate=5)  # no qualification: the work pages stay open
    GroundTruth.objects.create(project=project, item=item, status=c.value("truth status", "img", limit=50), by=manager)
    Honeypot.objects.create(task=task, item=item)
    GroundTruthAnswer.objects.create(
        task=task,
        project=project,
        user=bob,
        item=item,
        status=c.value("answer status", "iframe", limit=50),
        correct=False,
    )
    rejection = Rejection.objects.create(
        qa_task=qa_task,
        task=task,
        item=item,
        reviewer=rita,
        annotator=bob,
        reason=reason,
        comment=c.value("rejection comment", "textarea"),
    )
    Overturn.objects.create(rejection=rejection, reviewer=rita, qa_task=qa_task, item=item, status="approved")
    QualificationAttempt.objects.create(
        task=task,
        user=bob,
        item_ids=[item.pk],
        answers={str(item.pk): c.value("qualification answer", "polyglot", limit=50)},
    )
    SamplingState.objects.create(qa_task=qa_task, annotator=bob)
    PayRate.objects.create(project=project, user=bob, hourly_rate=Decimal("12.50"))
    ReviewHoneypot.objects.create(qa_task=qa_task, item=item, shown_status=c.value("decoy status", "title", limit=50))
    ActivityMark.objects.create(user=bob, task=task, assignment=o["assignment"], item=item, at_ms=1)
    # Comments on the rejected item (its page, the work view, the timeline) and a webhook with its log.
    item = o["task_item"].item
    o["comment"] = thread = comment_post(
        task=task, item=item, body=c.value("comment thread", "svg", limit=5000), by=manager
    )
    comment_post(task=task, item=item, body=c.value("comment reply", "img", limit=5000), by=bob, thread=thread)
    settled = comment_post(task=task, item=item, body=c.value("resolved comment", "textarea", limit=5000), by=manager)
    thread_resolve(thread=settled, by=bob)
    # Written as rows: a webhook wanting no event that happens here, so nothing is sent anywhere.
    o["webhook"] = hook = Webhook.objects.create(
        project=project,
        url="https://93.184.216.34/?" + urlencode({"q": c.value("webhook url", "polyglot", limit=200)}),
        events=[EventKind.STUCK],
        secret=c.value("webhook secret", "attr_dq", limit=128),
    )
    WebhookDelivery.objects.create(
        webhook=hook,
        event_key="xss",
        kind=EventKind.STUCK,
        payload={"title": c.value("webhook delivery title", "title")},
        state="failed",
        attempts=3,
        status_code=500,
        response=c.value("webhook answer", "iframe"),
        last_error=c.value("webhook error", "svgtext"),
    )
    return w


# ------------------------------------------------------------------ wizard drafts in the manager's session


def seed_wizard(session_key: str, w: World) -> dict:
    """Drafts as the wizard stores what was typed: a bad one (hostile items, DQL, folder), a complete
    QA one up to review with a hostile name, and two waiting on jobs (failed, running)."""
    c, o = w.corpus, w.objects
    store = SessionStore(session_key=session_key)
    wids = {k: uuid.uuid4().hex for k in ("bad", "good", "failed", "running")}
    base = {"dataset": o["dataset"].pk, "task_id": None, "job_id": None, "started": timezone.now().timestamp()}
    dql = json.dumps(
        {"$and": [{"metadata." + c.value("typed DQL key", "img"): c.value("typed DQL value", "textarea")}]}
    )
    store[SESSION_PREFIX + wids["bad"]] = {
        **base,
        "data": {
            "items": {
                "mode": ["filter"],
                "dql": [dql],
                "items": [c.value("typed item list", "textarea") + "\n" + c.value("typed item list 2", "json")],
                "folder": ["/" + c.value("typed folder", "svg")],
            }
        },
    }
    due = (timezone.localtime() + datetime.timedelta(days=6)).strftime("%Y-%m-%dT%H:%M")
    people = {
        "assignees": [str(w.users["reviewer"].pk)],
        "split": ["equal"],
        "due_at": [due],
        "priority": ["2"],
        "recipe": [str(o["recipe"].pk)],
        "owner": [str(w.users["manager"].pk)],
        "name": [c.value("typed task name", "attr_dq", limit=200)],
    }
    store[SESSION_PREFIX + wids["good"]] = {
        **base,
        "data": {
            "items": {"mode": ["all"]},
            "type": {"kind": ["qa"], "parent": [str(o["task"].pk)], "qa_intake": ["on"]},
            "people": people,
        },
    }
    store[SESSION_PREFIX + wids["failed"]] = {**base, "data": {"items": {"mode": ["all"]}}, "job_id": o["job"].pk}
    store[SESSION_PREFIX + wids["running"]] = {
        **base,
        "data": {"items": {"mode": ["all"]}},
        "job_id": o["job_running"].pk,
    }
    store.save()
    return wids


# ------------------------------------------------------------------ the browser side

INIT_SCRIPT = """
(() => {
  const report = (kind, detail) => { try { window.__xssReport(kind, String(detail), location.href); } catch (e) {} };
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    window[name] = function (m) { report("trap:" + name, m); return name === "confirm" ? false : null; };
  }
  document.addEventListener("securitypolicyviolation", (e) => {
    report("csp", e.violatedDirective + " blocked=" + (e.blockedURI || "") + " sample=" + (e.sample || ""));
  }, true);
  window.__xssSwaps = [];
  document.addEventListener("htmx:beforeSwap", (e) => {
    const d = e.detail || {};
    if (d.xhr && d.xhr.status === 200) window.__xssSwaps.push((d.pathInfo && d.pathInfo.requestPath) || "?");
  }, true);
})();
"""

CHECK_SCRIPT = """
() => {
  const bad = [];
  const short = (el) => (el.outerHTML || "").slice(0, 160);
  for (const el of document.querySelectorAll("[data-xss], xss")) bad.push("element " + short(el));
  const urlAttrs = ["href", "src", "action", "formaction", "xlink:href", "data", "poster", "background"];
  for (const el of document.querySelectorAll("*")) {
    for (const a of Array.from(el.attributes)) {
      const name = a.name.toLowerCase();
      if (name.startsWith("on")) bad.push("handler " + name + " on " + short(el));
      if (name === "srcdoc") bad.push("srcdoc on " + short(el));
      if (urlAttrs.includes(name)) {
        const v = a.value.replace(/[\\u0000-\\u0020\\u007f-\\u00a0]/g, "").toLowerCase();
        if (/^(javascript|vbscript):|^data:text[/]html/.test(v)) bad.push(name + " URL on " + short(el));
      }
    }
  }
  for (const s of document.querySelectorAll("script")) {
    if (s.hasAttribute("src")) {
      if (new URL(s.src, location.href).origin !== location.origin) bad.push("foreign script " + s.src);
      continue;
    }
    if ((s.type || "").toLowerCase() === "application/json") {
      try { JSON.parse(s.textContent); } catch (e) { bad.push("broken JSON script " + short(s)); }
      continue;
    }
    bad.push("inline script " + short(s));
  }
  for (const el of document.querySelectorAll("iframe, frame, object, embed, base, meta[http-equiv]")) {
    bad.push("element " + short(el));
  }
  const text = document.body ? document.body.innerText : "";
  if (text.includes("tpl:49:")) bad.push("template text evaluated");
  const html = document.documentElement.outerHTML.toLowerCase();
  const tags = Array.from(new Set(html.match(/xq\\d{3}q/g) || []));
  return {bad, tags, swaps: window.__xssSwaps || []};
}
"""


SUBMIT_SCRIPT = """
([action, fields]) => {
  const form = document.createElement("form");
  form.method = "post";
  form.action = action;
  const add = (name, value) => {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  };
  add("csrfmiddlewaretoken", document.querySelector("[name=csrfmiddlewaretoken]").value);
  for (const [name, value] of fields) add(name, value);
  document.body.appendChild(form);
  form.submit();
}
"""


@dataclass
class Finding:
    where: str
    what: str


@dataclass
class Tally:
    pages: int = 0
    admin_pages: int = 0
    partials: int = 0
    dialogs: list = field(default_factory=list)
    injected: list = field(default_factory=list)
    csp: list = field(default_factory=list)  # securitypolicyviolation events
    csp_console: list = field(default_factory=list)  # the same, as Chromium logs them
    tags: set = field(default_factory=set)
    routes: set = field(default_factory=set)
    errors: list = field(default_factory=list)


class Persona:
    """One browser context (and its pages) for one signed-in person."""

    def __init__(self, browser, live_server, user, tally: Tally, name: str):
        self.name, self.tally, self.base = name, tally, live_server.url
        self.session_key = None
        self.context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        if user is not None:
            client = Client()
            client.force_login(user)
            self.session_key = client.cookies["sessionid"].value
            self.context.add_cookies(
                [{"name": "sessionid", "value": self.session_key, "url": live_server.url, "httpOnly": True}]
            )
        self.context.expose_function("__xssReport", self._report)
        self.context.add_init_script(INIT_SCRIPT)
        # Polling partials fire when the page's clock says so: fast-forwarded instead of waited for.
        self.context.clock.install()
        self.page = self._new_page()
        self.hx_page = self._new_page()
        self.hx_page.set_extra_http_headers({"HX-Request": "true"})
        self.where = ""

    def _new_page(self):
        page = self.context.new_page()
        page.set_default_timeout(15_000)
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        return page

    def _report(self, kind, detail, url):
        if kind.startswith("trap:"):
            self.tally.dialogs.append(Finding(f"{self.name} {url}", f"{kind}({detail})"))
        elif kind == "csp":
            self.tally.csp.append(Finding(f"{self.name} {url}", detail))

    def _dialog(self, dialog):
        self.tally.dialogs.append(Finding(f"{self.name} {self.where}", f"{dialog.type}({dialog.message})"))
        dialog.dismiss()

    def _console(self, message):
        if "Content Security Policy" in message.text:
            self.tally.csp_console.append(Finding(f"{self.name} {self.where}", message.text[:200]))

    def check(self, page, where: str) -> dict:
        found = page.evaluate(CHECK_SCRIPT)
        for what in found["bad"]:
            self.tally.injected.append(Finding(f"{self.name} {where}", what))
        self.tally.tags.update(found["tags"])
        return found

    def visit(self, url: str, *, route=None, kind="page", poll: float = 0, expect_path: str | None = None):
        """Open `url`; a page that polls every `poll` seconds is checked once its partial has swapped in."""
        self.where = url
        page = self.page
        response = page.goto(url, wait_until="load")
        status = response.status if response else 0
        if status >= 400:
            self.tally.errors.append(Finding(f"{self.name} {url}", f"HTTP {status}"))
        if expect_path and expect_path not in page.url:
            self.tally.errors.append(Finding(f"{self.name} {url}", f"landed on {page.url}"))
        if poll:
            page.clock.fast_forward(int(poll * 1000) + 100)
            try:
                page.wait_for_function("() => (window.__xssSwaps || []).length >= 1", timeout=8000)
                page.wait_for_timeout(100)  # the swapped content settles
            except Exception:
                self.tally.errors.append(Finding(f"{self.name} {url}", f"no htmx swap after {poll} s of polling"))
        found = self.check(page, url)
        self.tally.partials += len(set(found["swaps"]))  # each partial this page swapped in
        if kind == "admin":
            self.tally.admin_pages += 1
        else:
            self.tally.pages += 1
        if route:
            self.tally.routes.add(route)
        return page

    def fetch_partial(self, url: str, *, route=None):
        """The fragment itself, as htmx asks for it, rendered as a document at the site's origin."""
        self.where = "HX " + url
        response = self.hx_page.goto(url, wait_until="load")
        if response is None or response.status >= 400:
            self.tally.errors.append(Finding(f"{self.name} HX {url}", f"HTTP {response and response.status}"))
        elif "<html" in (response.text() or "")[:200].lower():
            self.tally.errors.append(Finding(f"{self.name} HX {url}", "answered a whole page, not a fragment"))
        self.check(self.hx_page, "HX " + url)
        self.tally.partials += 1
        if route:
            self.tally.routes.add(route)

    def post_partial(self, origin: str, action: str, fields: list, *, route=None):
        """A POST partial as htmx sends it: a form posted from a page of the site, answered as a fragment."""
        self.where = "HX POST " + action
        page = self.hx_page
        page.goto(origin, wait_until="load")
        with page.expect_navigation(wait_until="load") as navigation:
            page.evaluate(SUBMIT_SCRIPT, [action, fields])
        response = navigation.value
        if response is None or response.status >= 500 or "<html" in (response.text() or "")[:200].lower():
            self.tally.errors.append(Finding(f"{self.name} HX POST {action}", f"HTTP {response and response.status}"))
        self.check(page, "HX POST " + action)
        self.tally.partials += 1
        if route:
            self.tally.routes.add(route)

    def download(self, url: str, *, route, expect_type: str):
        """Files and CSV: never HTML, never sniffed into HTML; no CSV cell a spreadsheet would run."""
        response = self.context.request.get(url)
        ctype = response.headers.get("content-type", "")
        if response.status >= 400 or not ctype.startswith(expect_type) or "html" in ctype:
            self.tally.errors.append(Finding(f"{self.name} {url}", f"HTTP {response.status} {ctype}"))
        if expect_type == "text/csv":
            text = response.text()
            self.tally.tags.update(re.findall(r"xq\d{3}q", text.lower()))
            for row in csv.reader(io.StringIO(text)):
                for cell in row:
                    if cell.startswith(FORMULA_STARTS):
                        self.tally.injected.append(Finding(f"{self.name} {url}", f"CSV formula cell {cell[:60]!r}"))
        self.tally.pages += 1
        self.tally.routes.add(route)

    def close(self):
        self.context.close()


def admin_urls(w: World) -> list[tuple[str, str]]:
    """(label, url): every registered model's changelist and the change page of its newest row."""
    out = [("admin index", reverse("admin:index"))]
    o = w.objects
    # The rows carrying the most hostile text; other models show their newest row.
    preferred = {
        "accounts.user": w.users["annotator"].pk,
        "datasets.recipe": o["recipe"].pk,
        "datasets.item": o["item"].pk,
        "datasets.annotation": o["annotation"].pk,
        "annotation.annotationtask": o["task"].pk,
        "annotation.taskitem": o["task_item"].pk,
        "jobs.job": o["job"].pk,
        "pipelines.node": o["node"].pk,
    }
    for model in sorted(admin.site._registry, key=lambda m: m._meta.label_lower):
        meta = model._meta
        out.append((meta.label_lower, reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")))
        pk = (
            preferred.get(meta.label_lower)
            or model._default_manager.order_by("-pk").values_list("pk", flat=True).first()
        )
        assert pk is not None, f"the world has no {meta.label_lower} row for its change page"
        out.append((meta.label_lower, reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk])))
    search = w.corpus.value("admin search text", "svg")
    out.append(("search", reverse("admin:annotation_annotationtask_changelist") + "?" + urlencode({"q": search})))
    return out


def test_no_script_runs_and_no_markup_is_injected_anywhere(transactional_db, chromium_browser, live_server):
    w = build_world()
    o, u = w.objects, w.users
    tally = Tally()
    people = {
        key: Persona(chromium_browser, live_server, u.get(key), tally, key)
        for key in ("manager", "annotator", "reviewer", "superuser", "anonymous")
    }
    manager, bob, rita = people["manager"], people["annotator"], people["reviewer"]
    wids = seed_wizard(manager.session_key, w)
    world = {**o, "wid": wids["bad"]}
    url = {name: url_of(name, route, world) for name, route in ROUTES.items()}
    task, qa, consensus = o["task"], o["qa_task"], o["consensus_task"]
    try:
        # ---- everyone's lists
        for persona in (manager, bob, rita):
            persona.visit(url["dashboards:home"], route="dashboards:home")
            persona.visit(url["work:my-work"], route="work:my-work")
        people["anonymous"].visit(reverse("accounts:login") + "?" + urlencode({"next": PAYLOADS["jsurl"]}))
        people["anonymous"].visit(reverse("accounts:login") + "?" + urlencode({"next": "/" + PAYLOADS["svg"]}))

        # ---- the manager's pages
        m = manager.visit
        m(url["dashboards:project-detail"], route="dashboards:project-detail")
        m(url["pipelines:list"], route="pipelines:list")
        m(reverse("pipelines:list") + f"?project={o['project'].pk}")
        m(url["dashboards:project"], route="dashboards:project", poll=5)
        m(url["dashboards:people"], route="dashboards:people")
        # Distribution control: the people view, leases (of the pulling task too), priority,
        # bulk operations and stuck work.
        m(url["dashboards:people-control"], route="dashboards:people-control")
        m(url["annotation:task-leases"], route="annotation:task-leases")
        m(reverse("annotation:task-leases", args=[o["pulled_task"].pk]))
        m(url["annotation:task-priority"], route="annotation:task-priority")
        m(url["annotation:task-bulk-status"], route="annotation:task-bulk-status")
        m(url["annotation:task-priority"] + "?" + urlencode({"name": PAYLOADS["svg"]}))
        m(url["annotation:project-operations"], route="annotation:project-operations")
        m(url["dashboards:stuck-panel"], route="dashboards:stuck-panel")
        m(reverse("dashboards:task-detail", args=[o["pulled_task"].pk]))
        manager.download(url["dashboards:people-csv"], route="dashboards:people-csv", expect_type="text/csv")
        # Quality: the project's and the task's gates, rejections by reason, the scorecards and pay.
        m(url["quality:project"], route="quality:project")
        m(url["quality:task"], route="quality:task")
        m(url["quality:rejections"], route="quality:rejections")
        m(url["dashboards:reviewers"], route="dashboards:reviewers")
        m(url["dashboards:cost"], route="dashboards:cost")
        manager.download(url["dashboards:reviewers-csv"], route="dashboards:reviewers-csv", expect_type="text/csv")
        manager.download(url["dashboards:payroll-csv"], route="dashboards:payroll-csv", expect_type="text/csv")
        m(url["annotation:dataset-browse"], route="annotation:dataset-browse")
        in_folder = "?" + urlencode({"subfolders": "on", "folder": o["image_item"].dir})
        m(url["annotation:dataset-browse"] + in_folder, route="annotation:dataset-browse")
        m(
            url["annotation:dataset-browse"]
            + "?"
            + urlencode({"name": PAYLOADS["attr_dq"], "meta_key": PAYLOADS["svg"]})
        )
        # The browsed filter carried to a task's bulk priority page, a payload riding in it.
        m(
            url["annotation:dataset-to-task-lever"]
            + "&"
            + urlencode({"target_task": task.pk, "folder": o["image_item"].dir, "name": PAYLOADS["svg"]}),
            route="annotation:dataset-to-task-lever",
            expect_path=f"/tasks/{task.pk}/priority/",
        )
        m(
            url["annotation:dataset-to-wizard"] + in_folder + "&pick=all",
            route="annotation:dataset-to-wizard",
            expect_path="/items/",
        )
        manager.download(
            reverse("datasets:item-file", args=[o["dataset"].pk, o["image_item"].pk]),
            route="datasets:item-file",
            expect_type="image/png",
        )
        manager.download(
            reverse("datasets:item-thumbnail", args=[o["dataset"].pk, o["image_item"].pk]),
            route="datasets:item-thumbnail",
            expect_type="image/",
        )
        m(url["annotation:wizard-start"], route="annotation:wizard-start", expect_path="/items/")
        m(
            reverse("annotation:wizard-start") + f"?dataset={o['dataset'].pk}&type=qa&parent={task.pk}",
            expect_path="/items/",
        )
        # The draft with hostile typed values, and its as-you-type check swapped in by the page.
        page = m(url["annotation:wizard-step"], route="annotation:wizard-step")
        page.get_by_label("A folder").check()
        page.get_by_label("Folder", exact=True).fill("/" + PAYLOADS["img"])
        page.wait_for_function("() => window.__xssSwaps.length >= 1", timeout=8000)
        page.get_by_label("A list of items").check()
        page.get_by_label("Item ids or filenames").fill(PAYLOADS["textarea"] + "\n" + PAYLOADS["svg"])
        page.wait_for_function("() => window.__xssSwaps.length >= 2", timeout=8000)
        page.wait_for_load_state("networkidle")
        tally.partials += len(set(manager.check(page, "wizard items, typed")["swaps"]))
        for step in ("items", "type", "people", "review"):
            path = reverse("annotation:wizard-step", args=[wids["good"], step])
            m(path, route="annotation:wizard-step", expect_path=f"/{step}/")
        m(reverse("annotation:wizard-job", args=[wids["failed"]]), route="annotation:wizard-job")
        m(reverse("annotation:wizard-job", args=[wids["running"]]), route="annotation:wizard-job", poll=2)
        for t in (task, qa, consensus):
            t.refresh_from_db()
            m(
                reverse("dashboards:task-detail", args=[t.pk]),
                route="dashboards:task-detail",
                poll=3 if t.is_open else 0,
            )
            m(reverse("dashboards:task", args=[t.pk]), route="dashboards:task", poll=5 if t is task else 0)
        # Every scored consensus item's agreement, with the filenames and labels people chose.
        m(reverse("dashboards:task-agreement", args=[consensus.pk]), route="dashboards:task-agreement")
        for name in ("task-add-items", "task-remove-items", "task-reassign", "task-redistribute", "task-close"):
            page = m(url[f"annotation:{name}"], route=f"annotation:{name}")
        page = m(url["annotation:task-add-items"])
        page.get_by_label("Folder", exact=True).fill("/" + PAYLOADS["polyglot"])
        page.wait_for_function("() => window.__xssSwaps.length >= 1", timeout=8000)
        page.wait_for_load_state("networkidle")
        tally.partials += len(set(manager.check(page, "add items, typed")["swaps"]))
        m(url["annotation:task-reassign"] + f"?assignment={o['assignment'].pk}")
        m(url["annotation:task-redistribute"] + f"?assignment={o['assignment'].pk}")
        manager.download(url["dashboards:task-export"], route="dashboards:task-export", expect_type="text/csv")
        for job in (o["job"], o["job_ok"], o["job_running"]):
            poll = 2 if job is o["job_running"] else 0
            m(reverse("jobs:job-detail", args=[job.pk]), route="jobs:job-detail", poll=poll)
        m(url["pipelines:detail"], route="pipelines:detail")
        m(url["pipelines:detail"] + f"?node={o['node'].pk}", route="pipelines:detail")
        m(reverse("pipelines:detail", args=[o["pipeline_live"].pk]), route="pipelines:detail", poll=2)
        # Closing the API's task through its page: the message that names it.
        api_task = AnnotationTask.objects.get(project=o["project"], name=o["api_task_name"])
        page = m(reverse("annotation:task-close", args=[api_task.pk]), route="annotation:task-close")
        page.get_by_label("Yes, close this task").check()
        with page.expect_navigation():
            page.get_by_role("button", name="Close task").click()
        manager.check(page, "task closed, with its message")
        if "closed." not in page.locator(".messages").inner_text():
            tally.errors.append(Finding("manager task-close", "no success message"))
        # A manager looking at an annotator's work.
        m(reverse("work:item", args=[o["assignment"].pk, o["task_item"].pk]), route="work:item")
        # Issue 20: the item's page (threads, timeline), the webhooks and a webhook's delivery log.
        m(url["work:item-page"], route="work:item-page")
        m(url["notifications:webhooks"], route="notifications:webhooks")
        m(url["notifications:webhook"], route="notifications:webhook")
        for persona in (manager, bob, rita):
            persona.visit(url["notifications:inbox"], route="notifications:inbox")
            persona.visit(url["notifications:settings"], route="notifications:settings")

        # ---- partials fetched directly, as htmx asks for them
        hx = manager.fetch_partial
        hx(reverse("dashboards:task-detail", args=[task.pk]) + "?part=progress", route="dashboards:task-detail")
        hx(url["dashboards:project"], route="dashboards:project")
        hx(url["notifications:bell"], route="notifications:bell")
        hx(reverse("dashboards:task", args=[task.pk]), route="dashboards:task")
        hx(reverse("dashboards:task", args=[consensus.pk]), route="dashboards:task")
        hx(url["annotation:dataset-browse"], route="annotation:dataset-browse")
        hx(url["annotation:dataset-browse"] + in_folder, route="annotation:dataset-browse")
        for job in (o["job"], o["job_ok"], o["job_running"]):
            hx(reverse("jobs:job-progress", args=[job.pk]), route="jobs:job-progress")
        hx(reverse("annotation:wizard-job", args=[wids["failed"]]), route="annotation:wizard-job")
        hx(reverse("annotation:wizard-job", args=[wids["running"]]), route="annotation:wizard-job")
        for p in (o["pipeline"], o["pipeline_live"]):
            hx(reverse("pipelines:detail", args=[p.pk]), route="pipelines:detail")
            hx(reverse("pipelines:detail", args=[p.pk]) + "?fragment=grid", route="pipelines:detail")

        # POST partials: the as-you-type checks and a refused node, posted as htmx posts them.
        typed = [
            ("mode", "filter"),
            ("dql", json.dumps({"$and": [{PAYLOADS["img"]: PAYLOADS["textarea"]}]})),
            ("items", PAYLOADS["textarea"] + "\n" + PAYLOADS["json"]),
            ("folder", "/" + PAYLOADS["svg"]),
        ]
        manager.post_partial(
            reverse("annotation:wizard-step", args=[wids["bad"], "items"]),
            reverse("annotation:wizard-validate", args=[wids["bad"], "items"]),
            typed,
            route="annotation:wizard-validate",
        )
        manager.post_partial(
            url["annotation:task-add-items"],
            reverse("annotation:task-items-validate", args=[task.pk, "add-items"]),
            [("mode", "folder"), ("folder", "/" + PAYLOADS["polyglot"]), ("assignees", str(u["annotator"].pk))],
            route="annotation:task-items-validate",
        )
        manager.post_partial(
            url["pipelines:detail"],
            reverse("pipelines:node-add", args=[o["pipeline"].pk]),
            [("add-kind", "annotation"), ("add-name", PAYLOADS["attr_dq"]), ("add-column", PAYLOADS["svg"])],
            route="pipelines:node-add",
        )

        # ---- the annotator's and the reviewer's work pages
        bob.visit(url["work:assignment"], route="work:assignment", expect_path="/items/")
        bob.visit(url["work:item"], route="work:item")  # sent back for rework, with the comment
        bob.visit(url["quality:qualify"], route="quality:qualify")
        cons = o["consensus_assignment"]
        bob.visit(reverse("work:assignment", args=[cons.pk]), route="work:assignment")
        rita.visit(reverse("work:assignment", args=[o["qa_assignment"].pk]), route="work:assignment")
        rita.visit(reverse("work:item", args=[o["qa_assignment"].pk, o["qa_item"].pk]), route="work:item")
        image_ti = TaskItem.objects.get(task=task, item=o["image_item"])
        bob.visit(reverse("work:item", args=[o["assignment"].pk, image_ti.pk]), route="work:item")

        # ---- the admin
        for _label, path in admin_urls(w):
            people["superuser"].visit(path, kind="admin")
    finally:
        for persona in people.values():
            persona.close()

    required = {name for name, r in ROUTES.items() if r.kind == "page" and "GET" in r.calls}
    missing_routes = sorted(required - tally.routes)
    unseen = sorted(set(w.corpus.fields) - tally.tags)
    print(
        f"FIGURE xss payloads={len(w.corpus.used)} fields={len(w.corpus.fields)} pages={tally.pages} "
        f"admin_pages={tally.admin_pages} partials={tally.partials} dialogs={len(tally.dialogs)} "
        f"injected_elements={len(tally.injected)} csp_violations={max(len(tally.csp), len(tally.csp_console))}"
    )

    def listing(findings):
        return "\n".join(f"  {f.where}: {f.what}" for f in findings[:40])

    assert not tally.dialogs, "dialogs opened:\n" + listing(tally.dialogs)
    assert not tally.injected, "markup injected:\n" + listing(tally.injected)
    assert not tally.csp, "CSP violations (attempted injections):\n" + listing(tally.csp)
    assert not tally.csp_console, "CSP violations logged:\n" + listing(tally.csp_console)
    assert not tally.errors, "pages that did not render:\n" + listing(tally.errors)
    assert not missing_routes, f"GET page routes not visited: {missing_routes}"
    assert not unseen, "hostile values never rendered: " + ", ".join(f"{t} {w.corpus.fields[t]}" for t in unseen)
    assert set(PAYLOADS) <= w.corpus.used, sorted(set(PAYLOADS) - w.corpus.used)
