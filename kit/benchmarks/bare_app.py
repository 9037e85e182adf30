"""The bare baseline: the same JSON as the gateway's single-user answer, with no GraphQL and no gRPC.

Served by gunicorn with the gateway's worker settings (gthread, same workers and threads), so the
difference against the gateway is what GraphQL + the gRPC call cost. ``BARE_BODY`` is the answer.
"""

from __future__ import annotations

import os

from flask import Flask, Response

app = Flask(__name__)
_BODY = os.environ.get("BARE_BODY", '{"data":{"user":{"id":"1","displayName":"x"}}}')


@app.post("/graphql")
def graphql() -> Response:
    return Response(_BODY, mimetype="application/json")


@app.get("/healthz")
def healthz() -> Response:
    return Response('{"status":"ok"}', mimetype="application/json")
