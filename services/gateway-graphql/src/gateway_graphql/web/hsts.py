"""HTTP Strict Transport Security: browsers reach this host (and its subdomains) by https only."""

from __future__ import annotations

from flask import Flask, Response

__all__ = ["install_hsts"]


def install_hsts(app: Flask, max_age_s: int, *, include_subdomains: bool) -> None:
    """Send ``Strict-Transport-Security`` on every response of ``app``; nothing when
    ``max_age_s`` is 0.

    Sent whatever scheme the request came in with: TLS ends at the proxy in front, and a browser
    ignores the header on plain http anyway, so the header does not hang on the proxy's
    ``X-Forwarded-Proto`` being trusted.
    """
    if max_age_s <= 0:
        return
    value = f"max-age={max_age_s}" + ("; includeSubDomains" if include_subdomains else "")

    @app.after_request
    def _hsts(response: Response) -> Response:
        response.headers.setdefault("Strict-Transport-Security", value)
        return response
