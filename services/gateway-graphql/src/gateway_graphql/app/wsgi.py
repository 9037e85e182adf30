"""The WSGI entry point for gunicorn: ``gateway_graphql.app.wsgi:create_wsgi_app()``.

Each worker calls the factory after the fork, so every worker opens its own gRPC channel (gRPC
channels do not survive a fork).
"""

from __future__ import annotations

from flask import Flask

from gateway_graphql.app.bootstrap import start_process
from gateway_graphql.app.factory import create_app


def create_wsgi_app() -> Flask:
    """The app of one gunicorn worker."""
    return create_app(start_process("web"))
