"""The pages that show how the work moves: home, the project page, the task page, the dashboards.
Thin views over `queries` and the progress read model (`taskboard.annotation.progress`)."""

import datetime
import functools
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation import leases, operations, skips
from taskboard.annotation import progress as task_progress
from taskboard.annotation import queries as annotation_queries
from taskboard.annotation.forms import SkipPolicyForm
from taskboard.annotation.models import TaskItem, TaskState, TaskType
from taskboard.dashboards import charts, queries
from taskboard.dashboards.cost import cost_report
from taskboard.dashboards.csv_export import csv_lines, to_csv
from taskboard.dashboards.forms import StuckPolicyForm
from taskboard.dashboards.reviewers import reviewer_scorecards
from taskboard.discussion.queries import open_thread_counts
from taskboard.projects import queries as project_queries
from taskboard.projects.models import Membership
from taskboard.quality import queries as quality_queries
from taskboard.quality import sampling
from taskboard.work import queries as work_queries
from taskboard.work import stuck
from taskboard.work.models import StuckPolicy


def _stop_polling_when_gone(view):
    """A poll for a task or project that was deleted, or that the user may no longer see, ends the
    polling (286) instead of answering 404 every five seconds; a 286 says nothing about existence."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Http404:
            if request.htmx:
                return HttpResponseStopPolling()
            raise

    return wrapper


@login_required
def home(request: AuthedHttpRequest):
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("project")
        .annotate(dataset_count=Count("project__datasets", distinct=True))
        .order_by("project__name")
    )
    open_work = [row for row in work_queries.my_work(user=request.user) if row.task is not None and row.task.is_open]
    gates = work_queries.my_work_gates(user=request.user, rows=open_work)
    return render(
        request,
        "dashboards/home.html",
        {
            "memberships": memberships,
            "works": any(not m.can_manage for m in memberships),
            "assignments": [(row, gates.get(row.task.pk)) for row in open_work if row.task is not None],
        },
    )


@login_required
def project_detail(request: AuthedHttpRequest, pk: int):
    project = project_queries.project_for_member(request.user, pk)
    membership = project_queries.membership_of(request.user, project)
    can_manage = membership is not None and membership.can_manage
    task_filter, matching = annotation_queries.task_list(project=project, user=request.user, data=request.GET)
    tasks = list(matching.order_by("state", "due_at"))
    progress = task_progress.tasks_progress(tasks)
    forecasts = {s.task.pk: s.forecast for s in queries.project_tasks(project)} if can_manage else {}
    for task in tasks:
        task.progress = progress[task.pk]
        task.forecast = forecasts.get(task.pk)
    context: dict[str, Any] = {
        "project": project,
        "membership": membership,
        "can_manage": can_manage,
        "task_filter": task_filter,
        "filtered": any(request.GET.get(name) for name in task_filter.filters),
        "open_tasks": [t for t in tasks if t.state == TaskState.OPEN],
        "closed_tasks": [t for t in tasks if t.state != TaskState.OPEN],
    }
    if request.htmx:
        response = render(request, "dashboards/project_detail.html#task-tables", context)
    else:
        context["datasets"] = (
            project.datasets.annotate(item_count=Count("items")) if can_manage else project.datasets.none()
        )
        context["members"] = (
            project.memberships.select_related("user").order_by("role", "user__email") if can_manage else []
        )
        context["stranded"] = annotation_queries.stranded_work(project=project) if can_manage else []
        response = render(request, "dashboards/project_detail.html", context)
    # The same URL answers a page or a fragment: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


@login_required
def task_detail(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    progress = task_progress.task_progress(task)
    context = {
        "task": task,
        "project": task.project,
        "progress": progress,
        "forecast": queries.task_forecast(task, progress) if task.is_open else None,
    }
    if request.htmx and request.GET.get("part") == "progress":
        return render(request, "dashboards/task_detail.html#progress", context)
    context["changes"] = task.changes.select_related("by", "from_assignment__assignee", "to_assignment__assignee")[:15]
    context["stranded"] = annotation_queries.stranded_work(project=task.project, task=task)
    context["qa_tasks"] = list(task.qa_tasks.all()) if task.type == TaskType.ANNOTATION else []
    context["open_threads"] = open_thread_counts(task_ids=[task.discussion_task_id]).get(task.discussion_task_id, 0)
    context["agreement"] = queries.task_agreement(task) if task.is_consensus else None
    context["holdings"] = leases.task_holdings(task) if task.is_pulling else []
    context["operations"] = operations.operations_of(project=task.project, task=task)[:10]
    context["skips"] = skips.skips_of(task)[:15]
    if not task.is_pulling:
        policy = StuckPolicy.objects.filter(task=task).first()
        context["stuck_policy"] = policy
        context["stuck"] = list(stuck.stuck_items(task=task)[:20])
        context["stuck_form"] = StuckPolicyForm(
            initial={
                "after_hours": policy.after_hours if policy else None,
                "action": policy.action if policy else "flag",
            }
        )
    context["skip_count"] = skips.skips_of(task).count()
    context["skip_form"] = SkipPolicyForm(
        initial={
            "skip_allowed": task.skip_allowed,
            "skip_reason_required": task.skip_reason_required,
            "skip_to": task.skip_to,
        },
        task=task,
    )
    if task.type == TaskType.QA:
        # The QA task page shows the sampling rule and each annotator's current share.
        context["rule"] = quality_queries.task_rule(task)
        context["sampling_rows"] = sampling.sampling_table(task)
    return render(request, "dashboards/task_detail.html", context)


EXPORT_COLUMNS = [
    ("item_id", "item_id"),
    ("filename", "item__filename"),
    ("copy", "copy"),
    ("assignee", "assignment__assignee__email"),
    ("assignment_kind", "assignment__kind"),
    ("status", "status"),
    ("status_by", "status_by__email"),
    ("status_at", "status_at"),
    ("rework", "rework"),
    ("comment", "comment"),
]


@login_required
def task_export(request: AuthedHttpRequest, pk: int):
    """Every item row of the task as CSV, streamed; consensus tasks add each item's agreement (0..1),
    empty until every copy has a status."""
    task = annotation_queries.task_for_manager(request.user, pk)
    columns, items = list(EXPORT_COLUMNS), TaskItem.objects.filter(task=task)
    if task.is_consensus:
        columns.append(("agreement", "agreement"))
        items = items.annotate(agreement=queries.agreement_of_item())
    rows: Iterator[tuple[Any, ...]] = (
        items.order_by("rank", "copy", "id").values_list(*[source for _, source in columns]).iterator(chunk_size=2000)
    )
    if task.is_consensus:
        rows = ((*row[:-1], round(row[-1], 4) if row[-1] is not None else None) for row in rows)
    response = StreamingHttpResponse(
        csv_lines([name for name, _ in columns], rows), content_type="text/csv; charset=utf-8"
    )
    safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in task.name)[:80] or "task"
    response["Content-Disposition"] = f'attachment; filename="{safe_name}-items.csv"'
    return response


@require_GET
@login_required
@_stop_polling_when_gone
def project_dashboard(request: AuthedHttpRequest, project_id: int):
    project = project_queries.project_for_manager(request.user, project_id)
    summaries = queries.project_tasks(project)
    live = any(s.task.is_open and s.forecast.remaining for s in summaries)
    context = {"project": project, "summaries": summaries, "live": live}
    if request.htmx:
        return render(request, "dashboards/project.html#task-table", context)
    return render(request, "dashboards/project.html", context)


@require_GET
@login_required
@_stop_polling_when_gone
def task_dashboard(request: AuthedHttpRequest, task_id: int):
    task = annotation_queries.task_for_manager(request.user, task_id)
    numbers = queries.task_numbers(task)
    start = timezone.localtime(task.created_at).date()
    context = {
        "task": task,
        "project": task.project,
        "n": numbers,
        "burndown": charts.burndown_svg(
            numbers.burndown, total=numbers.total, start=start, due=timezone.localtime(task.due_at).date()
        ),
        "throughput": charts.throughput_svg(numbers.throughput),
        # One row per day for the charts' table.
        "days": [
            (day, left, finished)
            for (day, left), (_, finished) in zip(numbers.burndown, numbers.throughput, strict=True)
        ],
        "updated_at": timezone.now(),
    }
    if request.htmx:
        # The fragment of a finished task comes without a trigger: the final numbers swap in and polling ends.
        return render(request, "dashboards/task.html#live", context)
    return render(request, "dashboards/task.html", context)


@require_GET
@login_required
def task_agreement(request: AuthedHttpRequest, task_id: int):
    """Every scored consensus item of the task with its agreement, the least agreed first, a page
    at a time (`after`: the cursor of the page's last row); an htmx request gets just the list."""
    task = annotation_queries.task_for_manager(request.user, task_id)
    if not task.is_consensus:
        raise Http404("This task has no consensus items.")
    raw = request.GET.get("after")
    try:
        after = queries.parse_agreement_cursor(raw) if raw else None
    except ValueError:
        return HttpResponseBadRequest("after: not a position in this list; start from the first page.")
    context = {
        "task": task,
        "project": task.project,
        "page": queries.agreement_page(task, after=after),
        "consensus": queries.consensus_summary(task),
    }
    if request.htmx:
        return render(request, "dashboards/agreement.html#items", context)
    return render(request, "dashboards/agreement.html", context)


@require_GET
@login_required
def people(request: AuthedHttpRequest, project_id: int):
    project = project_queries.project_for_manager(request.user, project_id)
    return render(request, "dashboards/people.html", {"project": project, "cards": queries.people_scorecards(project)})


@require_GET
@login_required
def people_csv(request: AuthedHttpRequest, project_id: int):
    project = project_queries.project_for_manager(request.user, project_id)
    header = [
        "email",
        "assigned",
        "items done",
        "active seconds per item",
        "approved in QA",
        "first-pass approval rate",
        "sent back by QA",
        "out for rework now",
        "honeypot score",
    ]
    rows = [
        [
            c.email,
            c.assigned,
            c.done,
            round(c.seconds_per_item, 1) if c.seconds_per_item is not None else "",
            c.approved,
            round(c.first_pass_rate, 4) if c.first_pass_rate is not None else "",
            c.sent_back,
            c.rework,
            round(c.honeypot_score, 4) if c.honeypot_score is not None else "",
        ]
        for c in queries.people_scorecards(project)
    ]
    response = HttpResponse(to_csv(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="people-project-{project.pk}.csv"'
    return response


@require_GET
@login_required
def reviewers(request: AuthedHttpRequest, project_id: int):
    project = project_queries.project_for_manager(request.user, project_id)
    return render(request, "dashboards/reviewers.html", {"project": project, "cards": reviewer_scorecards(project)})


@require_GET
@login_required
def reviewers_csv(request: AuthedHttpRequest, project_id: int):
    project = project_queries.project_for_manager(request.user, project_id)
    header = [
        "email",
        "reviewed",
        "accepted",
        "rejected",
        "median review seconds",
        "overturned",
        "overturn rate",
        "honeypots caught",
        "honeypots judged",
        "catch rate",
        "last active",
    ]
    rows = [
        [
            c.email,
            c.reviewed,
            c.accepted,
            c.rejected,
            round(c.median_seconds, 1) if c.median_seconds is not None else "",
            c.overturned,
            round(c.overturn_rate, 4) if c.overturn_rate is not None else "",
            c.honeypots_caught,
            c.honeypots_seen,
            round(c.catch_rate, 4) if c.catch_rate is not None else "",
            c.last_active.isoformat() if c.last_active else "",
        ]
        for c in reviewer_scorecards(project)
    ]
    response = HttpResponse(to_csv(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="reviewers-project-{project.pk}.csv"'
    return response


def _period(request: AuthedHttpRequest) -> tuple[datetime.date | None, datetime.date | None]:
    def day(name: str) -> datetime.date | None:
        raw = request.GET.get(name, "")
        try:
            return datetime.date.fromisoformat(raw) if raw else None
        except ValueError:
            return None

    return day("since"), day("until")


@require_GET
@login_required
def cost(request: AuthedHttpRequest, project_id: int):
    project = project_queries.project_for_manager(request.user, project_id)
    since, until = _period(request)
    report = cost_report(project, since=since, until=until)
    return render(request, "dashboards/cost.html", {"project": project, "report": report})


@require_GET
@login_required
def payroll_csv(request: AuthedHttpRequest, project_id: int):
    project = project_queries.project_for_manager(request.user, project_id)
    since, until = _period(request)
    report = cost_report(project, since=since, until=until)
    header = [
        "email",
        "hours",
        "items",
        "accepted",
        "rejected",
        "hourly rate",
        "cost",
        "cost per accepted item",
        "currency",
    ]
    rows = [
        [
            r.label,
            round(r.hours, 2),
            r.items,
            r.accepted,
            r.rejected,
            r.rate if r.rate is not None else "",
            r.cost,
            r.per_accepted if r.per_accepted is not None else "",
            report.currency,
        ]
        for r in report.people
    ]
    response = HttpResponse(to_csv(header, rows), content_type="text/csv; charset=utf-8")
    period = f"-{since or 'start'}-{until or 'now'}" if since or until else ""
    response["Content-Disposition"] = f'attachment; filename="payroll-project-{project.pk}{period}.csv"'
    return response
