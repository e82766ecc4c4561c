"""A local preview server for output/: serves the files and reloads open pages when they change.

Only regular files whose resolved path lies inside the output folder are served: no symlinks
out of it, no folder listings, no dotfiles (the PDF stamps, the output marker).
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


def safe_target(root: Path, url_path: str) -> Path | None:
    """The file `url_path` names inside `root`, or None when it must not be served."""
    parts = [p for p in unquote(url_path).split("/") if p]
    if any(p.startswith(".") for p in parts):  # dotfiles, and '..' too
        return None
    root = root.resolve()
    target = root.joinpath(*parts).resolve() if parts else root
    if target == root or root not in target.parents or not target.is_file():
        return None
    return target


class PreviewHandler(BaseHTTPRequestHandler):
    """Static files plus /__version; HTML pages get the reload script appended."""

    root: Path

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = urlsplit(self.path).path
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


def make_server(root: Path, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server bound to loopback only; port 0 picks a free one. Raises OSError for a busy port."""
    handler = type("Handler", (PreviewHandler,), {"root": root})
    return ThreadingHTTPServer((host, port), handler)


def serve_forever(server: ThreadingHTTPServer, announce: Callable[[str], None]) -> None:
    announce(f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
