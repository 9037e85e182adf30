"""The bare gateway: a Flask endpoint that makes the gateway's gRPC call (GetUser) and answers
the gateway's JSON, with no GraphQL, no interceptors and no middleware.

Served by gunicorn with the gateway's worker settings, like ``bare_app.py``; its backend is
``BARE_GRPC_TARGET`` (a ``bare_grpc.py`` server). The request body is the benchmark's
``{"query": ..., "variables": {"id": <Relay global id>}}``.
"""

from __future__ import annotations

import base64
import json
import os

import grpc
from flask import Flask, Response, request

from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc

app = Flask(__name__)
# Made in each worker (gunicorn imports the app after the fork): channels must not cross a fork.
_stub = pb_grpc.UserServiceStub(grpc.insecure_channel(os.environ["BARE_GRPC_TARGET"]))


@app.post("/graphql")
def graphql() -> Response:
    global_id = json.loads(request.get_data())["variables"]["id"]
    raw_id = int(base64.b64decode(global_id).decode().rsplit(":", 1)[-1])
    user = _stub.GetUser(pb.GetUserRequest(id=raw_id), timeout=5).user
    answer = {"data": {"user": {"id": global_id, "displayName": user.display_name}}}
    return Response(json.dumps(answer, separators=(",", ":")), mimetype="application/json")


@app.get("/healthz")
def healthz() -> Response:
    return Response('{"status":"ok"}', mimetype="application/json")
