from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render

from taskboard.annotation.models import TaskState
from taskboard.projects import queries
from taskboard.projects.models import Membership


@login_required
def home(request):
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("project")
        .annotate(dataset_count=Count("project__datasets", distinct=True))
        .order_by("project__name")
    )
    works = any(not m.can_manage for m in memberships)
    return render(
        request,
        "projects/home.html",
        {"memberships": memberships, "works": works, "assignments": queries.my_assignments(request.user)},
    )


@login_required
def project_detail(request, pk):
    project = queries.project_for_member(request.user, pk)
    membership = queries.membership_of(request.user, project)
    can_manage = membership.can_manage
    tasks = queries.with_progress(queries.tasks_for_project(project, request.user).order_by("state", "due_at"))
    if can_manage:
        forecasts = queries.task_forecasts(project)
        for task in tasks:
            task.forecast = forecasts.get(task.pk)
    datasets = project.datasets.annotate(item_count=Count("items")) if can_manage else project.datasets.none()
    return render(
        request,
        "projects/project_detail.html",
        {
            "project": project,
            "membership": membership,
            "can_manage": can_manage,
            "datasets": datasets,
            "open_tasks": [t for t in tasks if t.state == TaskState.OPEN],
            "closed_tasks": [t for t in tasks if t.state != TaskState.OPEN],
            "members": project.memberships.select_related("user").order_by("role", "user__email")
            if can_manage
            else [],
        },
    )
