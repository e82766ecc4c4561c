"""A local preview server for output/: serves the files and reloads open pages when they change.

Only regular files whose resolved path lies inside the output folder are served: no symlinks
out of it, no folder listings, no dotfiles (the PDF stamps, the output marker). Every request
gets a status code, never a traceback: a path the file system cannot take (too long, a symlink
loop) is 404, a NUL byte 400; a request whose Host is not a loopback name is refused (403), so a
web page cannot reach the preview through DNS rebinding; an idle connection is closed.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

RELOAD_SCRIPT = b"""<script>
(function(){let seen=null;setInterval(async()=>{try{const r=await fetch('/__version',{cache:'no-store'});
const v=await r.text();if(seen!==null&&v!==seen){location.reload();}seen=v;}catch(e){}},1000);})();
</script>"""


def output_version(root: Path) -> str:
    """Changes whenever a deliverable in `root` is rewritten (newest mtime of its top files)."""
    stamps = [p.stat().st_mtime_ns for p in root.glob("*.html")] + [p.stat().st_mtime_ns for p in root.glob("*.pdf")]
    return str(max(stamps, default=0))


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
IDLE_SECONDS = 15.0  # a connection that sends nothing for this long is closed


def safe_target(root: Path, url_path: str) -> Path | None:
    """The file `url_path` names inside `root`, or None when it must not be served (or cannot be)."""
    parts = [p for p in unquote(url_path).split("/") if p]
    if any(p.startswith(".") for p in parts):  # dotfiles, and '..' too
        return None
    try:
        root = root.resolve()
        target = root.joinpath(*parts).resolve() if parts else root
        if target == root or root not in target.parents or not target.is_file():
            return None
    except (OSError, RuntimeError, ValueError):  # a name too long, a symlink loop, a NUL byte
        return None
    return target


def loopback_host(header: str | None) -> bool:
    """Whether a Host header names this machine's loopback (with or without a port); absent is fine."""
    if header is None:
        return True  # HTTP/1.0 clients send none; a browser always does
    host = header.strip().lower()
    if host.startswith("["):  # [::1]:8000
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host in LOOPBACK_NAMES


class PreviewHandler(BaseHTTPRequestHandler):
    """Static files plus /__version; HTML pages get the reload script appended."""

    root: Path
    timeout = IDLE_SECONDS  # socket timeout: a half-open or idle connection is dropped

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client left
        except Exception:  # never a traceback on the console, always a status code
            self._send(b"error", "text/plain", status=500)

    def _get(self) -> None:
        if not loopback_host(self.headers.get("Host")):
            return self._send(b"forbidden: the preview answers only to localhost", "text/plain", status=403)
        path = urlsplit(self.path).path
        if "\x00" in unquote(path):
            return self._send(b"bad request", "text/plain", status=400)
        if path == "/__version":
            return self._send(output_version(self.root).encode(), "text/plain")
        if path == "/":
            path = "/deck.html" if (self.root / "deck.html").is_file() else "/report.html"
        target = safe_target(self.root, path)
        if target is None:
            return self._send(b"not found", "text/plain", status=404)
        body = target.read_bytes()
        if target.suffix == ".html":
            return self._send(body.replace(b"</body>", RELOAD_SCRIPT + b"</body>"), "text/html; charset=utf-8")
        return self._send(body, mimetypes.guess_type(target.name)[0] or "application/octet-stream")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet: the CLI prints the URL
        pass


class PreviewServer(ThreadingHTTPServer):
    """Quiet about clients that vanish mid-request: the console shows the URL and nothing else."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass


def make_server(root: Path, port: int, host: str = "127.0.0.1", idle_seconds: float = IDLE_SECONDS) -> ThreadingHTTPServer:
    """A server bound to loopback only; port 0 picks a free one. Raises OSError for a busy port."""
    handler = type("Handler", (PreviewHandler,), {"root": root, "timeout": idle_seconds})
    return PreviewServer((host, port), handler)


def serve_forever(server: ThreadingHTTPServer, announce: Callable[[str], None]) -> None:
    announce(f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
