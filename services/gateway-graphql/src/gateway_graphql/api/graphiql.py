"""The GraphiQL page, served with its JavaScript and CSS by the gateway itself (no CDN).

The vendored bundles live in ``static/graphiql/`` (versions and checksums in its
``VERSIONS.json``; ``tools/vendor_graphiql.py`` updates them); the page's own script and style are
``static/gateway-graphiql.js`` / ``.css``. The page carries its settings as JSON in a
``<script type="application/json">`` element, so it needs no inline script and works under a
strict Content-Security-Policy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "ASSETS_PATH",
    "CONTENT_SECURITY_POLICY",
    "DEFAULT_QUERY",
    "STATIC_DIR",
    "render_page",
]

PACKAGE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATE = PACKAGE_DIR / "templates" / "graphiql.html"
ASSETS_PATH = "/graphiql/assets"

# React sets style attributes, hence 'unsafe-inline' for styles; scripts come from here only.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)

DEFAULT_QUERY = """\
# GraphiQL for the gateway. Ctrl-Enter runs the query; the Docs button shows the schema.
query Users {
  users(first: 5) {
    edges {
      cursor
      node {
        id
        displayName
        createdAt
        invitedBy {
          displayName
        }
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
"""


def _json_for_html(value: Any) -> str:
    # Safe inside <script>: no "</script>", no HTML comment or entity openers.
    text = json.dumps(value)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_page(
    *,
    endpoint: str,
    query: str | None = None,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> str:
    """The HTML of the GraphiQL page, prefilled with the request's query when it had one."""
    config = {
        "endpoint": endpoint,
        "defaultQuery": DEFAULT_QUERY,
        "query": query,
        "variables": json.dumps(variables, indent=2) if variables else None,
        "operationName": operation_name,
    }
    html = TEMPLATE.read_text(encoding="utf-8")
    return html.replace("{{ASSETS}}", ASSETS_PATH).replace("{{CONFIG}}", _json_for_html(config))
