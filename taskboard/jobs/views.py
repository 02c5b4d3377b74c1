from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.jobs import queries, services


@login_required
def job_detail(request: AuthedHttpRequest, pk: int):
    job = queries.job_for_viewer(request.user, pk)
    return render(request, "jobs/job_detail.html", {"job": job})


@login_required
def job_progress(request: AuthedHttpRequest, pk: int):
    """The progress fragment; it polls itself every 2 s until the job finishes."""
    job = services.job_watched(job=queries.job_for_viewer(request.user, pk))
    return render(request, "jobs/_job_progress_partial.html", {"job": job})
