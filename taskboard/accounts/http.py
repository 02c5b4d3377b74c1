"""The request types views are annotated with.

`HtmxMiddleware` gives every request `request.htmx`; `login_required` (and the API's `api_view`) let
through only a signed-in person, which django-stubs cannot see, so views behind them take an
`AuthedHttpRequest`, whose `user` is a `User`.
"""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from taskboard.accounts.models import User


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthedHttpRequest(HtmxHttpRequest):
    user: User
