"""Dashboards for the people who manage a project: thin views over `queries`."""

import functools

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from taskboard.annotation import queries as annotation_queries
from taskboard.dashboards import charts, queries
from taskboard.dashboards.csv_export import to_csv
from taskboard.projects import queries as project_queries


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


@require_GET
@login_required
@_stop_polling_when_gone
def project_dashboard(request, project_id):
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
def task_dashboard(request, task_id):
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
        # One row per day for the charts' table; labels formatted here, not per cell in the template.
        "days": [
            (day.isoformat(), charts.day_label(day), left, finished)
            for (day, left), (_, finished) in zip(numbers.burndown, numbers.throughput, strict=True)
        ],
    }
    if request.htmx:
        # The fragment of a finished task comes without a trigger: the final numbers swap in and polling ends.
        return render(request, "dashboards/task.html#live", context)
    return render(request, "dashboards/task.html", context)


@require_GET
@login_required
def task_agreement(request, task_id):
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
def people(request, project_id):
    project = project_queries.project_for_manager(request.user, project_id)
    return render(request, "dashboards/people.html", {"project": project, "cards": queries.people_scorecards(project)})


@require_GET
@login_required
def people_csv(request, project_id):
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
        ]
        for c in queries.people_scorecards(project)
    ]
    response = HttpResponse(to_csv(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="people-project-{project.pk}.csv"'
    return response
