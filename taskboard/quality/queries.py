"""Reads for the quality pages."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, Pause
from taskboard.projects.models import Project
from taskboard.quality.activity import active_seconds_by_person_task
from taskboard.quality.models import (
    GroundTruth,
    GroundTruthAnswer,
    Honeypot,
    PayRate,
    ProjectQuality,
    Rejection,
    RejectReason,
    TaskQuality,
)


def settings_for(project: Project) -> ProjectQuality:
    """The project's settings, or the defaults (unsaved) when it has none."""
    return ProjectQuality.objects.filter(project=project).first() or ProjectQuality(project=project)


@dataclass
class PersonTime:
    user_id: int
    email: str
    seconds: float

    @property
    def hours(self) -> float:
        return self.seconds / 3600


def active_time_by_person(project: Project) -> list[PersonTime]:
    """Each person's active time in the project's tasks, counted from the marks in one query."""
    task_ids = list(AnnotationTask.objects.filter(project=project).values_list("pk", flat=True))
    per_person: dict[int, float] = defaultdict(float)
    for row in active_seconds_by_person_task(task_ids=task_ids):
        per_person[row.user_id] += row.seconds
    emails = dict(User.objects.filter(pk__in=per_person).values_list("pk", "email"))
    rows = [PersonTime(user_id=u, email=emails.get(u, str(u)), seconds=s) for u, s in per_person.items()]
    return sorted(rows, key=lambda r: r.email)


def task_rule(task: AnnotationTask) -> TaskQuality:
    """The task's gates, or none (an unsaved row with the defaults)."""
    return TaskQuality.objects.filter(task=task).first() or TaskQuality(task=task)


@dataclass
class Score:
    user_id: int
    email: str
    answered: int
    right: int
    paused: bool = False

    @property
    def rate(self) -> float | None:
        return self.right / self.answered if self.answered else None


def scores(*, task: AnnotationTask | None = None, project: Project | None = None) -> list[Score]:
    """Each person's honeypot score in a task, or over a project's tasks, worst first."""
    answers = GroundTruthAnswer.objects.all()
    if task is not None:
        answers = answers.filter(task=task)
    if project is not None:
        answers = answers.filter(project=project)
    rows = answers.values("user_id", "user__email").annotate(
        answered=Count("pk"), right=Count("pk", filter=Q(correct=True))
    )
    paused: set[int] = set()
    if task is not None:
        paused = set(
            Pause.objects.filter(Q(task=task) | Q(task__isnull=True, project_id=task.project_id)).values_list(
                "user_id", flat=True
            )
        )
    found = [
        Score(
            user_id=r["user_id"],
            email=r["user__email"],
            answered=r["answered"],
            right=r["right"],
            paused=r["user_id"] in paused,
        )
        for r in rows
    ]
    return sorted(found, key=lambda s: (s.rate if s.rate is not None else 1.0, s.email))


def ground_truth_count(project: Project) -> int:
    return GroundTruth.objects.filter(project=project).count()


def honeypot_count(task: AnnotationTask) -> int:
    return Honeypot.objects.filter(task=task).count()


@dataclass
class ReasonBar:
    reason_id: int | None
    name: str
    count: int
    percent: float  # of the longest bar

    @property
    def key(self) -> str:
        return str(self.reason_id) if self.reason_id is not None else "none"


def errors_by_reason(task: AnnotationTask, *, annotator_id: int | None = None) -> list[ReasonBar]:
    """Rejects of the task's work per reason (of one annotator, if given), most first."""
    rows = Rejection.objects.filter(task=task)
    if annotator_id is not None:
        rows = rows.filter(annotator_id=annotator_id)
    counts = list(rows.values("reason_id", "reason__name").annotate(n=Count("pk")).order_by("-n", "reason__name"))
    top = max((r["n"] for r in counts), default=0)
    return [
        ReasonBar(
            reason_id=r["reason_id"],
            name=r["reason__name"] or "No reason given",
            count=r["n"],
            percent=100.0 * r["n"] / top if top else 0.0,
        )
        for r in counts
    ]


@dataclass
class PersonErrors:
    user_id: int
    email: str
    rejected: int
    top_reason: str


def errors_by_person(task: AnnotationTask) -> list[PersonErrors]:
    """Each annotator's rejects in the task, with their most frequent reason."""
    rows = (
        Rejection.objects.filter(task=task, annotator__isnull=False)
        .values("annotator_id", "annotator__email", "reason__name")
        .annotate(n=Count("pk"))
    )
    people: dict[int, PersonErrors] = {}
    best: dict[int, int] = {}
    for r in rows:
        uid = r["annotator_id"]
        person = people.setdefault(uid, PersonErrors(uid, r["annotator__email"], 0, ""))
        person.rejected += r["n"]
        if r["n"] > best.get(uid, 0):
            best[uid] = r["n"]
            person.top_reason = r["reason__name"] or "No reason given"
    return sorted(people.values(), key=lambda p: (-p.rejected, p.email))


def rejections(
    task: AnnotationTask, *, reason: str | None = None, annotator_id: int | None = None, limit: int = 500
) -> list[Rejection]:
    """The rejects behind a bar: `reason` is a reason id, or "none" for rejects without one."""
    rows = Rejection.objects.filter(task=task).select_related(
        "item", "reviewer", "annotator", "reason", "qa_task_item"
    )
    if reason == "none":
        rows = rows.filter(reason__isnull=True)
    elif reason:
        rows = rows.filter(reason_id=int(reason)) if reason.isdigit() else rows.none()
    if annotator_id is not None:
        rows = rows.filter(annotator_id=annotator_id)
    return list(rows.order_by("-at", "-pk")[:limit])


def project_reasons(project: Project) -> list[RejectReason]:
    return list(RejectReason.objects.filter(project=project))


def pay_rates(project: Project) -> list[tuple[User, Decimal | None]]:
    """Each member and their own hourly rate (None: the project's default)."""
    own = dict(PayRate.objects.filter(project=project).values_list("user_id", "hourly_rate"))
    members = User.objects.filter(memberships__project=project, is_active=True).distinct().order_by("email")
    return [(user, own.get(user.pk)) for user in members]
