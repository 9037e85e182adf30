"""CORS for a Flask app: an allow-list of origins, credentials allowed, preflights answered.

::

    install_cors(app, CorsPolicy(origins=frozenset({"https://app.example.com"})))

A request from a listed origin gets ``Access-Control-Allow-Origin: <origin>`` and
``Access-Control-Allow-Credentials: true`` (never ``*``, which browsers refuse with credentials);
other origins get no CORS headers, so browsers keep their responses from the calling page.
Preflights (``OPTIONS`` with ``Access-Control-Request-Method``) are answered with 204 before any
view runs. Every response varies on ``Origin``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, Response, request

__all__ = ["CorsPolicy", "install_cors"]


@dataclass(frozen=True)
class CorsPolicy:
    """Which origins may call, and what they may send and read."""

    origins: frozenset[str]
    allow_methods: tuple[str, ...] = ("GET", "POST", "OPTIONS")
    allow_headers: tuple[str, ...] = ("Authorization", "Content-Type")
    expose_headers: tuple[str, ...] = ("X-Request-ID",)
    max_age_s: int = 600

    def allows(self, origin: str | None) -> bool:
        """True when ``origin`` is on the list (compared case-insensitively)."""
        return origin is not None and origin.lower() in self.origins


def _is_preflight() -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def install_cors(app: Flask, policy: CorsPolicy) -> None:
    """Answer preflights and add CORS headers to every response of ``app``."""

    @app.before_request
    def _preflight() -> Response | None:
        if _is_preflight():
            return Response(status=204)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        # Looked up without werkzeug's header lookups, which raise and catch KeyError for a
        # missing header: most responses have no Vary and most requests no Origin.
        if "vary" in set(response.headers.keys(lower=True)):
            response.vary.add("Origin")
        else:  # the usual case, without parsing and rebuilding the header
            response.headers.add("Vary", "Origin")
        origin: str | None = request.environ.get("HTTP_ORIGIN")
        if not policy.allows(origin):
            return response
        assert origin is not None
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        if _is_preflight():
            response.headers["Access-Control-Allow-Methods"] = ", ".join(policy.allow_methods)
            response.headers["Access-Control-Allow-Headers"] = ", ".join(policy.allow_headers)
            response.headers["Access-Control-Max-Age"] = str(policy.max_age_s)
        else:
            response.headers["Access-Control-Expose-Headers"] = ", ".join(policy.expose_headers)
        return response
