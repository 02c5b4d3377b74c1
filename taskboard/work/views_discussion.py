"""An item's page within a task (its threads and its timeline) and the comment actions, which the
work view and the review view use too. htmx posts get the threads back; plain posts are redirected."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation import queries as annotation_queries
from taskboard.annotation.models import AnnotationTask, TaskItem
from taskboard.annotation.timeline import item_timeline
from taskboard.datasets.models import Item
from taskboard.discussion import queries, services
from taskboard.discussion.models import Comment
from taskboard.projects.access import get_or_404
from taskboard.work.forms import CommentForm


def item_page_url(task: AnnotationTask, item: Item | int) -> str:
    return reverse("work:item-page", args=[task.pk, getattr(item, "pk", item)])


def threads_context(*, task: AnnotationTask, item: Item, back: str) -> dict:
    """What the threads partial needs: the item's threads where the task's items are talked about."""
    return {
        "thread_task": task,
        "thread_item": item,
        "threads": queries.threads(task_id=task.discussion_task_id, item_id=item.pk),
        "comments_back": back,
        "comment_form": CommentForm(),
    }


@require_GET
@login_required
def item_page(request: AuthedHttpRequest, task_id: int, item_id: int) -> HttpResponse:
    task = annotation_queries.task_for_viewer(request.user, task_id)
    item = annotation_queries.item_in_task(task, item_id)
    rows = list(
        TaskItem.objects.filter(task=task, item=item)
        .select_related("assignment__assignee", "status_by")
        .order_by("copy")
    )
    labels = dict(task.statuses.values_list("key", "label"))
    context = {
        "task": task,
        "item": item,
        "rows": [(row, labels.get(row.status or "", row.status)) for row in rows],
        "timeline": item_timeline(task=task, item=item),
        **threads_context(task=task, item=item, back=item_page_url(task, item)),
    }
    return render(request, "work/item_page.html", context)


def _back(request: AuthedHttpRequest, task: AnnotationTask, item: Item) -> HttpResponse:
    back = request.POST.get("back") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = item_page_url(task, item)
    if request.htmx:
        return render(request, "discussion/_threads.html", threads_context(task=task, item=item, back=back))
    return redirect(back)


def _thread_of(task: AnnotationTask, item: Item, comment_id: object) -> Comment:
    rows = Comment.objects.filter(task_id=task.discussion_task_id, item=item)
    return get_or_404(rows, comment_id, "comment")


@require_POST
@login_required
def comment_post(request: AuthedHttpRequest, task_id: int, item_id: int) -> HttpResponse:
    task = annotation_queries.task_for_viewer(request.user, task_id)
    item = annotation_queries.item_in_task(task, item_id)
    form = CommentForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(e) for e in errors))
        return _back(request, task, item)
    thread_id = form.cleaned_data.get("thread")
    thread = _thread_of(task, item, thread_id) if thread_id else None
    home = task if task.discussion_task_id == task.pk else task.parent
    assert home is not None  # a QA task has its parent (task_qa_has_parent)
    try:
        services.comment_post(
            task=home,
            item=item,
            body=form.cleaned_data["body"],
            by=request.user,
            thread=thread,
            link=item_page_url(home, item),
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    return _back(request, task, item)


@require_POST
@login_required
def thread_resolve(request: AuthedHttpRequest, task_id: int, item_id: int, comment_id: int) -> HttpResponse:
    task = annotation_queries.task_for_viewer(request.user, task_id)
    item = annotation_queries.item_in_task(task, item_id)
    thread = _thread_of(task, item, comment_id)
    try:
        if request.POST.get("reopen"):
            services.thread_reopen(thread=thread, by=request.user)
        else:
            services.thread_resolve(thread=thread, by=request.user)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    return _back(request, task, item)
