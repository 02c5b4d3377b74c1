"""Request bodies sent with `Transfer-Encoding: chunked` and no Content-Length, made readable by Django.

dtlpy uploads item files that way (aiohttp streams the multipart form). Django reads a body only up to
CONTENT_LENGTH, so without one it sees an empty body and no file. This WSGI wrapper reads such a body
(decoding the chunks itself when the server passed them raw, as runserver's does; reading to the end
when the server decoded them, as gunicorn does and says with `wsgi.input_terminated`), caps it, and
hands Django the bytes with their length. Every other request passes untouched.
"""

import json
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

# Above this a body is spooled to a temporary file rather than held in memory.
SPOOL_BYTES = 2_621_440


def dechunk(raw: Any, limit: int, out: Any) -> int:
    total = 0
    while True:
        line = raw.readline(1026)
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            # Trailers, up to the blank line.
            while raw.readline(1026).strip():
                pass
            return total
        total += size
        if total > limit:
            raise OverflowError
        while size:
            data = raw.read(min(size, 65536))
            if not data:
                raise ValueError("the chunked body ended early")
            out.write(data)
            size -= len(data)
        raw.readline(2)  # the CRLF after each chunk


def _read_to_end(raw: Any, limit: int, out: Any) -> int:
    total = 0
    while data := raw.read(65536):
        total += len(data)
        if total > limit:
            raise OverflowError
        out.write(data)
    return total


def chunked_bodies(app: Callable[..., Iterable[bytes]], *, limit: Callable[[], int]) -> Callable[..., Iterable[bytes]]:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked or environ.get("CONTENT_LENGTH"):
            return app(environ, start_response)
        read = _read_to_end if environ.get("wsgi.input_terminated") else dechunk
        # Django reads the whole body while it handles the request, before the response is returned.
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as body:
            try:
                length = read(environ["wsgi.input"], limit(), body)
            except OverflowError:
                return _refuse(start_response, 413, "The request body is larger than this server accepts.")
            except ValueError:
                return _refuse(start_response, 400, "The chunked request body could not be read.")
            body.seek(0)
            environ = {**environ, "wsgi.input": body, "CONTENT_LENGTH": str(length)}
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            return app(environ, start_response)

    return wrapped


def _refuse(start_response: Callable[..., Any], status: int, message: str) -> list[bytes]:
    reason = {400: "Bad Request", 413: "Payload Too Large"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Connection", "close")])
    return [json.dumps({"message": message, "status": status}).encode()]
