"""Issue 14 item 10: every request to the preview server gets a status code and no traceback,
an idle connection is closed, and a Host that is not a loopback name is refused (DNS rebinding).
Raw sockets to 127.0.0.1 only."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

IDLE = 0.5  # the server's idle timeout in these tests; the client waits far longer


@pytest.fixture
def server(tmp_path: Path):
    from reportgen.render.serve import make_server

    out = tmp_path / "output"
    (out / "loop").mkdir(parents=True)
    (out / "deck.html").write_text("<html><body>deck</body></html>")
    os.symlink(out / "loop" / "b", out / "loop" / "a")
    os.symlink(out / "loop" / "a", out / "loop" / "b")
    srv = make_server(out, 0, idle_seconds=IDLE)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def raw(port: int, request: bytes) -> bytes:
    """Sends `request` as is and returns everything the server answers before it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), answer[:200]
    return int(answer.split(b" ", 2)[1])


def get(path: str, host: str = "127.0.0.1") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


@pytest.mark.parametrize(
    ("path", "code"),
    [("/" + "a" * 300, 404), ("/assets/" + "b" * 300 + ".css", 404), ("/deck%00.html", 400),
     ("/%00", 400), ("/loop/a", 404), ("/loop/a/deck.html", 404)],
)  # fmt: skip
def test_impossible_paths_get_a_status_code_and_no_traceback(server, capfd, path, code):
    assert status(raw(server, get(path))) == code
    assert status(raw(server, get("/deck.html"))) == 200  # the server is still there
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST:8000", "[::1]:8000", "127.0.0.1:1234"])
def test_loopback_hosts_are_served(server, host):
    assert status(raw(server, get("/deck.html", host))) == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "192.168.1.5", "localhost.evil"])
def test_other_hosts_are_refused(server, capfd, host):
    answer = raw(server, get("/deck.html", host))
    assert status(answer) == 403 and b"deck</body>" not in answer
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("sent", [b"", b"GET /deck.html HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
def test_idle_and_half_open_connections_are_closed(server, sent):
    """Nothing, or a request line without the blank line that ends it: the server hangs up."""
    with socket.create_connection(("127.0.0.1", server), timeout=60) as sock:
        sock.sendall(sent)
        # Closed by the server after its idle timeout: recv returns b"" long before the 60 s client
        # timeout (which would raise instead).
        assert sock.recv(65536) == b""
