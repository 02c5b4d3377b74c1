"""Request bodies sent chunked (dtlpy's uploads) reach Django with their length, under runserver's
replacement (`manage.py devserver`) and under a server that decodes chunks itself (gunicorn)."""

import http.client
import io
import threading

from taskboard.api.management.commands.devserver import ChunkedWSGIServer
from taskboard.chunked import chunked_bodies

BODY = b"--boundary\r\n" + b"x" * 70_000 + b"\r\n--boundary--\r\n"


def _chunks(data: bytes, size: int = 4096) -> bytes:
    out = b"".join(
        f"{len(data[i : i + size]):x}\r\n".encode() + data[i : i + size] + b"\r\n" for i in range(0, len(data), size)
    )
    return out + b"0\r\n\r\n"


def _echo(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{length} {body == BODY}".encode()]


def _call(app, environ):
    answer = {}

    def start_response(status, headers):
        answer["status"] = status

    body = b"".join(app({"REQUEST_METHOD": "POST", **environ}, start_response))
    return answer["status"], body


def test_a_decoded_chunked_body_gets_its_length():
    app = chunked_bodies(_echo, limit=lambda: 1_000_000)
    environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True, "wsgi.input": io.BytesIO(BODY)}
    assert _call(app, environ) == ("200 OK", f"{len(BODY)} True".encode())


def test_raw_chunks_are_decoded_and_a_body_over_the_limit_is_413():
    app = chunked_bodies(_echo, limit=lambda: 1_000_000)
    environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(_chunks(BODY))}
    assert _call(app, environ) == ("200 OK", f"{len(BODY)} True".encode())
    small = chunked_bodies(_echo, limit=lambda: 1000)
    status, body = _call(small, {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(_chunks(BODY))})
    assert status.startswith("413") and b"message" in body


def test_devserver_reads_a_chunked_request():
    server = ChunkedWSGIServer(("127.0.0.1", 0), None)
    server.set_app(_echo)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        conn.putrequest("POST", "/")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(_chunks(BODY))
        assert conn.getresponse().read() == f"{len(BODY)} True".encode()
    finally:
        thread.join(10)
        server.server_close()
