"""A loopback HTTP server for download tests: each path answers with a status and a body, or a
body shorter than the Content-Length it announces (a connection dropped mid-download)."""

from __future__ import annotations

import http.server
import socket
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Route:
    status: int = 200
    body: bytes = b""
    # Announced length when it differs from len(body): the connection closes after the body.
    content_length: int | None = None


class DownloadServer:
    """Serves `routes` on 127.0.0.1; `requests` lists the paths asked for."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                route = server.routes.get(self.path.split("?", 1)[0], Route(404, b"not found"))
                self.send_response(route.status)
                length = route.content_length
                self.send_header("Content-Length",
                                 str(len(route.body) if length is None else length))
                self.end_headers()
                self.wfile.write(route.body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll keeps shutdown (once per test) quick.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url(path: str = "/model.zip") -> str:
    """A loopback URL nothing listens on: connecting is refused, as when offline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
