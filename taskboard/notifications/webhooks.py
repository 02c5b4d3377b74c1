"""Webhooks: a project's events POSTed as JSON to the URLs its managers set, signed with HMAC-SHA256,
retried with backoff by Celery, every try written to the delivery log.

Only http(s) URLs on hosts the site allows (WEBHOOK_ALLOWED_HOSTS) are accepted, and none that
resolve to a private, loopback or otherwise internal address unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES
is on: a webhook must not become a way to reach the site's own network. The address is checked when
the webhook is saved and again at each try, and the connection is made to the address that was
checked (no second lookup an attacker's DNS could answer differently); redirects are not followed."""

import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import ssl
from collections.abc import Iterable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from taskboard.notifications import tasks
from taskboard.notifications.models import DeliveryState, EventKind, Notification, Webhook, WebhookDelivery

SIGNATURE_HEADER = "X-Taskboard-Signature"
EVENT_HEADER = "X-Taskboard-Event"
DELIVERY_HEADER = "X-Taskboard-Delivery"
RESPONSE_KEPT = 1000


class DeliveryFailed(Exception):
    """A try that failed and may succeed later: Celery retries it."""


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _host_allowed(host: str) -> bool:
    for allowed in settings.WEBHOOK_ALLOWED_HOSTS:
        allowed = allowed.lower()
        if allowed == "*" or host == allowed or (allowed.startswith(".") and host.endswith(allowed)):
            return True
    return False


def _addresses(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError({"url": f"The host {host} cannot be found."}) from exc
    return sorted({str(info[4][0]) for info in infos})


def checked_address(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) for a URL a webhook may use, or ValidationError
    saying why not."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValidationError({"url": "Use an http:// or https:// URL."})
    host = (parts.hostname or "").lower()
    if not host:
        raise ValidationError({"url": "The URL has no host."})
    if parts.username or parts.password:
        raise ValidationError({"url": "Put no user name or password in the URL; the secret signs each delivery."})
    if not _host_allowed(host):
        raise ValidationError({"url": f"Webhooks may not be sent to {host}; an administrator allows hosts."})
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ValidationError({"url": "The URL's port is not a number."}) from exc
    addresses = _addresses(host, port)
    if not settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        internal = [a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_global]
        if internal:
            raise ValidationError(
                {"url": f"{host} is an internal address ({internal[0]}); webhooks go to public addresses only."}
            )
    return parts.scheme, host, port, addresses[0]


def _events(events: Iterable[str]) -> list[str]:
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e not in EventKind.values]
    if unknown:
        raise ValidationError({"events": f"Unknown events: {', '.join(unknown)}."})
    if not chosen:
        raise ValidationError({"events": "Choose at least one event."})
    return chosen


@transaction.atomic
def webhook_create(*, project: Any, url: str, events: Iterable[str], by: Any) -> Webhook:
    url = (url or "").strip()
    checked_address(url)
    return Webhook.objects.create(
        project=project, url=url, events=_events(events), secret=secrets.token_hex(32), created_by=by
    )


@transaction.atomic
def webhook_set_active(*, webhook: Webhook, active: bool) -> Webhook:
    webhook.active = active
    webhook.save(update_fields=["active"])
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()


def _absolute(url: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{url}" if url.startswith("/") else url


def deliveries_for(notice: Notification) -> list[int]:
    """Queue the event a notice reports for each of its project's webhooks that wants it, once per
    event (however many people were told); sent once the caller commits."""
    if notice.project_id is None:
        return []
    hooks = [h for h in Webhook.objects.filter(project_id=notice.project_id, active=True) if notice.kind in h.events]
    if not hooks:
        return []
    payload = {
        "event": notice.kind,
        "event_key": notice.event_key,
        "created_at": notice.created_at.isoformat(),
        "project": {"id": notice.project_id},
        "title": notice.title,
        "body": notice.body,
        "url": _absolute(notice.url) if notice.url else "",
        "data": notice.data,
    }
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(webhook=h, event_key=notice.event_key, kind=notice.kind, payload=payload) for h in hooks],
        ignore_conflicts=True,
    )
    ids = list(
        WebhookDelivery.objects.filter(
            webhook__in=hooks, event_key=notice.event_key, state=DeliveryState.PENDING, attempts=0
        ).values_list("pk", flat=True)
    )
    for delivery_id in ids:
        transaction.on_commit(partial(tasks.deliver_webhook.delay, delivery_id))
    return ids


def _post(*, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    scheme, host, port, address = checked_address(url)
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sock = socket.create_connection((address, port), timeout=timeout)
    if scheme == "https":
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection.sock = sock
    try:
        connection.request("POST", path, body=body, headers={"Host": parts.netloc, **headers})
        response = connection.getresponse()
        text = response.read(RESPONSE_KEPT).decode("utf-8", "replace")
        return response.status, text
    finally:
        connection.close()


def webhook_deliver(*, delivery_id: int) -> str:
    """One try of a delivery. It is claimed first (pending → sending), so two workers never send it
    at once and a sent one is never sent again. A 2xx answer is delivered; a 5xx, 429, timeout or
    refused connection goes back to pending for the next try (DeliveryFailed), the last try leaving
    it failed; any other answer (4xx, a redirect) fails it at once: the receiver said no."""
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING).update(
        state=DeliveryState.SENDING, attempts=F("attempts") + 1, last_tried_at=timezone.now()
    )
    if not claimed:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    hook = delivery.webhook
    body = json.dumps(
        {"id": delivery.pk, **delivery.payload}, separators=(",", ":"), sort_keys=True, ensure_ascii=False
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Taskboard-Webhooks/1",
        EVENT_HEADER: delivery.kind,
        DELIVERY_HEADER: str(delivery.pk),
        SIGNATURE_HEADER: sign(hook.secret, body),
    }
    status: int | None = None
    answer = error = ""
    refused = False  # the URL itself is no longer allowed: no later try can change that
    try:
        status, answer = _post(url=hook.url, body=body, headers=headers)
    except ValidationError as exc:
        error = " ".join(exc.messages)
        refused = "cannot be found" not in error
    except (OSError, http.client.HTTPException) as exc:
        error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
    ok = status is not None and 200 <= status < 300
    retryable = not ok and not refused and (status is None or status >= 500 or status == 429)
    last = delivery.attempts >= settings.WEBHOOK_MAX_TRIES
    if ok:
        state = DeliveryState.SENT
    elif retryable and not last:
        state = DeliveryState.PENDING
    else:
        state = DeliveryState.FAILED
    if not error and not ok:
        error = f"The receiver answered {status}."
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        state=state,
        status_code=status,
        response=answer,
        last_error=error[:2000],
        delivered_at=timezone.now() if ok else None,
    )
    if state == DeliveryState.PENDING:
        raise DeliveryFailed(error)
    return str(state)
