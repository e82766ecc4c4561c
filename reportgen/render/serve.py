"""A local preview server for output/: serves the files and reloads open pages when they change."""

from __future__ import annotations

import functools
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RELOAD_SCRIPT = b"""<script>
(function(){let seen=null;setInterval(async()=>{try{const r=await fetch('/__version',{cache:'no-store'});
const v=await r.text();if(seen!==null&&v!==seen){location.reload();}seen=v;}catch(e){}},1000);})();
</script>"""


def output_version(root: Path) -> str:
    """Changes whenever a deliverable in `root` is rewritten (newest mtime of its top files)."""
    stamps = [p.stat().st_mtime_ns for p in root.glob("*.html")] + [p.stat().st_mtime_ns for p in root.glob("*.pdf")]
    return str(max(stamps, default=0))


class PreviewHandler(SimpleHTTPRequestHandler):
    """Static files plus /__version; HTML pages get the reload script appended."""

    root: Path

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/__version":
            return self._send(output_version(self.root).encode(), "text/plain")
        if path == "/":
            path = "/deck.html"
        target = (self.root / path.lstrip("/")).resolve()
        if target.suffix == ".html" and target.is_file() and self.root.resolve() in target.parents:
            return self._send(target.read_bytes().replace(b"</body>", RELOAD_SCRIPT + b"</body>"), "text/html; charset=utf-8")
        return super().do_GET()

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet: the CLI prints the URL
        pass


def make_server(root: Path, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server bound to loopback only; port 0 picks a free one."""
    handler = type("Handler", (PreviewHandler,), {"root": root})
    return ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(root)))


def serve_forever(root: Path, port: int, announce: Callable[[str], None]) -> None:
    server = make_server(root, port)
    announce(f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
