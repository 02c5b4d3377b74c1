"""Cost and quality per accepted item: active time × each person's hourly rate ÷ accepted items, per
person, per task and over the project, for a period of days; and the payroll rows behind the CSV.

Counted from the per-day rows the dashboards keep (`DailyThroughput`: net items finished and active
time per assignment and day) and the rejects (`quality.Rejection`), so a period costs O(days × people):
- hours: active time (the idle cut-off rule, docs/quality.md) on the task's items that day;
- accepted: items finished and not sent back (a reject clears the status, so the day's net done
  count already takes it off);
- rejected: items reviewers sent back to the person in the period;
- items: accepted + rejected;
- cost: hours × the person's rate (their own in the project, else the project's default).
A task's cost per accepted item counts its QA tasks' review time too.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Sum

from taskboard.annotation.models import AnnotationTask, TaskType
from taskboard.dashboards.models import DailyThroughput
from taskboard.projects.models import Project
from taskboard.quality.models import PayRate, ProjectQuality, Rejection


@dataclass
class CostRow:
    label: str
    seconds: float = 0.0
    accepted: int = 0
    rejected: int = 0
    cost: Decimal = field(default_factory=Decimal)
    rate: Decimal | None = None
    user_id: int | None = None
    task_id: int | None = None

    @property
    def hours(self) -> float:
        return self.seconds / 3600

    @property
    def items(self) -> int:
        return self.accepted + self.rejected

    @property
    def per_accepted(self) -> Decimal | None:
        return (self.cost / self.accepted).quantize(Decimal("0.01")) if self.accepted else None

    @property
    def accepted_rate(self) -> float | None:
        return self.accepted / self.items if self.items else None


@dataclass
class CostReport:
    currency: str
    people: list[CostRow]
    tasks: list[CostRow]
    total: CostRow
    since: datetime.date | None
    until: datetime.date | None


def _money(seconds: float, rate: Decimal) -> Decimal:
    return (Decimal(str(seconds)) / Decimal(3600) * rate).quantize(Decimal("0.01"))


def cost_report(
    project: Project, *, since: datetime.date | None = None, until: datetime.date | None = None
) -> CostReport:
    settings = ProjectQuality.objects.filter(project=project).first()
    default_rate = settings.default_hourly_rate if settings else Decimal(0)
    currency = settings.currency if settings else "USD"
    rates = dict(PayRate.objects.filter(project=project).values_list("user_id", "hourly_rate"))
    tasks = {t.pk: t for t in AnnotationTask.objects.filter(project=project)}
    days = DailyThroughput.objects.filter(task_id__in=list(tasks))
    rejects = Rejection.objects.filter(task_id__in=list(tasks), annotator__isnull=False)
    if since:
        days = days.filter(day__gte=since)
        rejects = rejects.filter(at__date__gte=since)
    if until:
        days = days.filter(day__lte=until)
        rejects = rejects.filter(at__date__lte=until)
    per: dict[tuple[int, int], CostRow] = {}
    emails: dict[int, str] = {}
    for task_id, user_id, email, seconds, done in (
        days.filter(assignment__assignee__isnull=False)
        .values("task_id", "assignment__assignee_id", "assignment__assignee__email")
        .annotate(s=Sum("active_seconds"), d=Sum("done"))
        .values_list("task_id", "assignment__assignee_id", "assignment__assignee__email", "s", "d")
    ):
        assert user_id is not None
        emails[user_id] = email
        row = per.setdefault((user_id, task_id), CostRow(label=email, user_id=user_id, task_id=task_id))
        row.seconds += float(seconds or 0)
        if tasks[task_id].type == TaskType.ANNOTATION:
            row.accepted += max(int(done or 0), 0)
    for task_id, user_id, email, n in (
        rejects.values("task_id", "annotator_id", "annotator__email")
        .annotate(n=Count("pk"))
        .values_list("task_id", "annotator_id", "annotator__email", "n")
    ):
        assert user_id is not None
        emails[user_id] = email
        per.setdefault((user_id, task_id), CostRow(label=email, user_id=user_id, task_id=task_id)).rejected += n
    for (user_id, _task_id), row in per.items():
        row.rate = rates.get(user_id, default_rate)
        row.cost = _money(row.seconds, row.rate)

    people: dict[int, CostRow] = {}
    by_task: dict[int, CostRow] = {}
    for (user_id, task_id), row in per.items():
        person = people.setdefault(user_id, CostRow(label=emails[user_id], user_id=user_id, rate=row.rate))
        task = tasks[task_id]
        # Review time is a cost of the task reviewed.
        home = task.parent_id if task.type == TaskType.QA and task.parent_id in tasks else task_id
        assert home is not None
        bucket = by_task.setdefault(home, CostRow(label=tasks[home].name, task_id=home))
        for target in (person, bucket):
            target.seconds += row.seconds
            target.accepted += row.accepted
            target.rejected += row.rejected
            target.cost += row.cost
    total = CostRow(label="Project")
    for row in people.values():
        total.seconds += row.seconds
        total.accepted += row.accepted
        total.rejected += row.rejected
        total.cost += row.cost
    return CostReport(
        currency=currency,
        people=sorted(people.values(), key=lambda r: r.label),
        tasks=sorted(by_task.values(), key=lambda r: r.label),
        total=total,
        since=since,
        until=until,
    )
