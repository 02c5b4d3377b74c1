from django.http import HttpRequest

from taskboard.api.http import error_response


def unknown_route(request: HttpRequest, *args, **kwargs):
    return error_response(404, f"No API route {request.method} {request.path}.")
