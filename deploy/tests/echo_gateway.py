"""A stand-in for the gateway behind a proxy under test: it answers with what reached it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    echoed: ClassVar[Mapping[str, str]] = {}  # answer key -> request header

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen = {key: self.headers.get(header) for key, header in self.echoed.items()}
        answer = json.dumps(
            {"path": self.path, "body": body.decode(), **seen, "cookie": self.headers.get("Cookie")}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        # two cookies: a proxy must pass every Set-Cookie on, not only the first
        self.send_header("Set-Cookie", "a=1; Path=/; HttpOnly")
        self.send_header("Set-Cookie", "b=2; Path=/")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def echo_gateway(**headers: str) -> Iterator[int]:
    """A server on a free loopback port answering each POST with its path, body and Cookie
    header as JSON (plus ``headers``: answer key -> request header), setting two cookies."""
    handler = type("Echo", (_Echo,), {"echoed": headers})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
