"""The quality pages: a project's settings and figures, a task's gates. Thin over services/queries."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.projects import queries as project_queries
from taskboard.quality import queries, services
from taskboard.quality.forms import ProjectQualityForm


def _errors(request: AuthedHttpRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


@login_required
@require_http_methods(["GET", "POST"])
def project_quality(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project = project_queries.project_for_manager(request.user, project_id)
    current = queries.settings_for(project)
    form = ProjectQualityForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        try:
            services.project_quality_update(
                project=project, by=request.user, idle_cutoff_seconds=form.cleaned_data["idle_cutoff_seconds"]
            )
        except ValidationError as error:
            _errors(request, error)
        else:
            messages.success(request, "Quality settings saved.")
            return redirect(reverse("quality:project", args=[project.pk]))
    context = {
        "project": project,
        "form": form,
        "times": queries.active_time_by_person(project),
    }
    return render(request, "quality/project.html", context)
