"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (the user-service is SERVING)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, jsonify

from gateway_graphql.service.accounts import Readiness

__all__ = ["create_health_blueprint"]


def create_health_blueprint(readiness: Callable[[], Readiness]) -> Blueprint:
    """The probe endpoints; ``readiness`` checks the dependencies (with its own deadline)."""
    blueprint = Blueprint("health", __name__)

    @blueprint.get("/healthz")
    def healthz() -> Response:
        """Liveness: no dependency is checked (a down user-service must not restart us)."""
        response = jsonify(status="ok")
        response.headers["Cache-Control"] = "no-store"
        return response

    @blueprint.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """Readiness: 200 when the user-service's health service reports SERVING, else 503."""
        result = readiness()
        response = jsonify(status="ready" if result.ready else "unavailable", checks=result.checks)
        response.headers["Cache-Control"] = "no-store"
        return response, 200 if result.ready else 503

    return blueprint
