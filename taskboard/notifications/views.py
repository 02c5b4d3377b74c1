"""The inbox: a bell with the unread count (htmx polls it), the list with deep links, mark read."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.notifications import email, queries, services, webhooks
from taskboard.notifications.forms import EmailPreferencesForm, WebhookForm
from taskboard.notifications.models import Webhook
from taskboard.projects.access import get_or_404
from taskboard.projects.models import Project


@require_GET
@login_required
def bell(request: AuthedHttpRequest) -> HttpResponse:
    return render(request, "notifications/_bell.html", {"unread": queries.unread_count(user=request.user)})


@require_GET
@login_required
def inbox(request: AuthedHttpRequest) -> HttpResponse:
    unread_only = request.GET.get("show") == "unread"
    page = Paginator(queries.inbox(user=request.user, unread_only=unread_only), queries.INBOX_PAGE).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "unread_only": unread_only, "unread": queries.unread_count(user=request.user)}
    return render(request, "notifications/inbox.html", context)


def _back(request: AuthedHttpRequest) -> HttpResponse:
    if request.htmx:
        response = render(
            request,
            "notifications/inbox.html#inbox-list",
            {
                "page": Paginator(queries.inbox(user=request.user), queries.INBOX_PAGE).get_page(1),
                "unread": queries.unread_count(user=request.user),
            },
        )
        response["HX-Trigger"] = "inbox-changed"
        return response
    return redirect(reverse("notifications:inbox"))


@require_POST
@login_required
def open_notification(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """Follow a notice's deep link, marking it read on the way (a POST: reading is a write)."""
    notification = queries.own_notification(user=request.user, pk=pk)
    if notification is None:
        raise Http404("No such notification.")
    services.mark_read(user=request.user, notification_ids=[notification.pk])
    target = notification.url
    if not target or not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("notifications:inbox")
    return redirect(target)


@require_POST
@login_required
def read_one(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    if queries.own_notification(user=request.user, pk=pk) is None:
        raise Http404("No such notification.")
    services.mark_read(user=request.user, notification_ids=[pk])
    return _back(request)


@require_POST
@login_required
def read_all(request: AuthedHttpRequest) -> HttpResponse:
    services.mark_all_read(user=request.user)
    return _back(request)


@require_http_methods(["GET", "POST"])
@login_required
def email_settings(request: AuthedHttpRequest) -> HttpResponse:
    modes = email.email_modes(user=request.user)
    form = EmailPreferencesForm(request.POST or None, modes=modes)
    if request.method == "POST" and form.is_valid():
        email.email_preferences_set(user=request.user, modes=form.cleaned_data)
        messages.success(request, "Your email settings are saved.")
        return redirect(reverse("notifications:settings"))
    return render(request, "notifications/email_settings.html", {"form": form})


def _managed_project(request: AuthedHttpRequest, pk: int) -> Project:
    return get_or_404(Project.objects.managed_by(request.user), pk, "project")


def _hook(project: Project, hook_id: int) -> Webhook:
    return get_or_404(Webhook.objects.filter(project=project), hook_id, "webhook")


@require_http_methods(["GET", "POST"])
@login_required
def webhook_list(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    project = _managed_project(request, pk)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            hook = webhooks.webhook_create(
                project=project, url=form.cleaned_data["url"], events=form.cleaned_data["events"], by=request.user
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        else:
            messages.success(request, "Webhook added. Its secret signs every delivery: keep it on the receiving side.")
            return redirect(reverse("notifications:webhook", args=[project.pk, hook.pk]))
    hooks = queries.webhooks_of(project=project)
    return render(request, "notifications/webhooks.html", {"project": project, "hooks": hooks, "form": form})


@require_GET
@login_required
def webhook_detail(request: AuthedHttpRequest, pk: int, hook_id: int) -> HttpResponse:
    project = _managed_project(request, pk)
    hook = _hook(project, hook_id)
    page = Paginator(queries.webhook_deliveries(webhook=hook), 50).get_page(request.GET.get("page"))
    return render(request, "notifications/webhook_detail.html", {"project": project, "hook": hook, "page": page})


@require_POST
@login_required
def webhook_active(request: AuthedHttpRequest, pk: int, hook_id: int) -> HttpResponse:
    project = _managed_project(request, pk)
    hook = webhooks.webhook_set_active(webhook=_hook(project, hook_id), active=request.POST.get("active") == "1")
    messages.success(request, "Webhook turned on." if hook.active else "Webhook paused: no events are sent to it.")
    return redirect(reverse("notifications:webhook", args=[project.pk, hook.pk]))


@require_POST
@login_required
def webhook_remove(request: AuthedHttpRequest, pk: int, hook_id: int) -> HttpResponse:
    project = _managed_project(request, pk)
    webhooks.webhook_delete(webhook=_hook(project, hook_id))
    messages.success(request, "Webhook removed.")
    return redirect(reverse("notifications:webhooks", args=[project.pk]))
