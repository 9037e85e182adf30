"""Error responses outside GraphQL execution, in the GraphQL shape: always JSON, never HTML.

``{"errors": [{"message": ..., "extensions": {"code": ...}}]}`` with the HTTP status, so that a
client parses every failure of the service the same way (413, 403 CSRF, 404, 500 ...).
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

__all__ = ["CODE_BY_STATUS", "error_response"]

CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "BAD_REQUEST",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_response(
    status: int, message: str, *, code: str | None = None, **extensions: Any
) -> Response:
    """A JSON error response with ``extensions.code`` (by default from the status)."""
    body = {
        "errors": [
            {
                "message": message,
                "extensions": {**extensions, "code": code or CODE_BY_STATUS.get(status, "ERROR")},
            }
        ]
    }
    return Response(json.dumps(body), status=status, content_type="application/json")
