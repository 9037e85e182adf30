"""Serve a built single-page app on one origin with the gateway, as nginx does in compose.

``nox -s up -- --spa`` runs it (run_stack.py's ``spa`` process): the files of ``--dist`` (the
example SPA's ``npm run build``) at ``/``, every path that is not a file answered with
``index.html`` (the app's router reads the path: the emailed ``/verify-email?token=...`` and
``/reset-password?token=...`` links), and the gateway's public paths (``/graphql``, GraphiQL's
assets, ``/healthz``, ``/readyz``) passed to ``--gateway``. The app and its API share an origin,
so the browser needs no CORS and the session cookie is first-party.

Standard library only, for local development: nginx (deploy/compose/nginx.conf) does this job in
the containers.
"""

from __future__ import annotations

import argparse
import http.client
import mimetypes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

# The gateway's public paths, as deploy/compose/nginx.conf proxies them.
PROXIED_EXACT = ("/graphql", "/healthz", "/readyz")
PROXIED_PREFIXES = ("/graphiql/assets/",)
# Headers of one connection, not of the message (RFC 9110 7.6.1): never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
PROXY_TIMEOUT_S = 35  # above the gateway's own request deadline


def make_handler(dist: Path, gateway: str) -> type[BaseHTTPRequestHandler]:
    """A request handler serving ``dist`` and passing the gateway's paths to ``gateway``."""
    root = dist.resolve()
    upstream = urlsplit(gateway)
    index = root / "index.html"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "serve-spa"

        def _proxied(self) -> bool:
            path = urlsplit(self.path).path
            return path in PROXIED_EXACT or path.startswith(PROXIED_PREFIXES)

        def do_GET(self) -> None:
            if self._proxied():
                self._proxy()
            else:
                self._file(with_body=True)

        def do_HEAD(self) -> None:
            if self._proxied():
                self._proxy()
            else:
                self._file(with_body=False)

        def do_POST(self) -> None:
            if self._proxied():
                self._proxy()
            else:
                self.send_error(405)

        do_OPTIONS = do_POST  # CORS preflights: the gateway answers them

        def _file(self, *, with_body: bool) -> None:
            wanted = (root / urlsplit(self.path).path.lstrip("/")).resolve()
            # Anything that is not a file inside dist (the app's own routes) gets the app.
            if not wanted.is_file() or not wanted.is_relative_to(root):
                wanted = index
            body = wanted.read_bytes()
            kind = mimetypes.guess_type(wanted.name)[0] or "application/octet-stream"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            # Vite puts a content hash in every asset's name; index.html must be asked again.
            immutable = wanted.parent.name == "assets"
            self.send_header(
                "Cache-Control", "public, max-age=31536000, immutable" if immutable else "no-cache"
            )
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def _proxy(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["X-Forwarded-For"] = self.client_address[0]
            headers["X-Forwarded-Proto"] = "http"
            connection = http.client.HTTPConnection(
                upstream.hostname or "127.0.0.1", upstream.port or 80, timeout=PROXY_TIMEOUT_S
            )
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                content = answer.read()
            except OSError as error:
                self.send_error(502, f"the gateway did not answer: {error}")
                return
            finally:
                connection.close()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():  # every Set-Cookie, each on its own line
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, required=True, help="the built app (index.html)")
    parser.add_argument("--gateway", required=True, help="the gateway's URL, http://host:port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    if not (args.dist / "index.html").is_file():
        parser.error(f"{args.dist}/index.html is missing: run `npm ci && npm run build` first")
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args.dist, args.gateway))
    print(f"serving {args.dist} on http://{args.host}:{args.port}/, API at {args.gateway}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
