"""The app factory: the Flask app of the gateway around the objects the bootstrap built.

It installs the HTTP concerns (``web/``: request ids, metrics, CORS, HSTS, JSON errors), tracing,
body limits, the probes and ``/graphql`` (``api/``), and GraphiQL where it is enabled.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, redirect, request, send_from_directory
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from alvin_python_lib import telemetry
from alvin_python_lib.logging import get_logger, get_request_id
from gateway_graphql.api.graphiql import ASSETS_PATH, STATIC_DIR
from gateway_graphql.api.graphql.errors import CODES
from gateway_graphql.api.graphql.schema import schema
from gateway_graphql.api.graphql.view import CSRF_PREVENTED, GatewayGraphQLView, ViewOptions
from gateway_graphql.api.health import create_health_blueprint
from gateway_graphql.app.bootstrap import Gateway, bootstrap
from gateway_graphql.app.settings import Settings
from gateway_graphql.remote.user_service import UserServiceClient
from gateway_graphql.web.cookies import SessionCookie
from gateway_graphql.web.cors import CorsPolicy, install_cors
from gateway_graphql.web.hsts import install_hsts
from gateway_graphql.web.http_metrics import install_http_metrics
from gateway_graphql.web.json_errors import CODE_BY_STATUS, error_response
from gateway_graphql.web.request_id import install_request_id

__all__ = ["EXTENSION", "create_app", "gateway_of"]

EXTENSION = "gateway_graphql"
_log = get_logger("gateway_graphql.app")


def create_app(settings: Settings, *, user_service: UserServiceClient | None = None) -> Flask:
    """The gateway's WSGI app around the objects :func:`~gateway_graphql.app.bootstrap.bootstrap`
    builds; ``user_service`` replaces the client built from ``settings``."""
    gateway = bootstrap(settings, user_service=user_service)
    accounts = gateway.accounts
    app = Flask("gateway_graphql", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions[EXTENSION] = gateway
    if settings.proxy_hops:
        # The client address and scheme as the proxies saw them; never X-Forwarded-Host or -Port,
        # which would let a client choose the host of the URLs the app builds. The proxy passes
        # the Host header on instead.
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0
        )

    install_request_id(app, quiet_paths=frozenset({"/healthz", "/readyz"}))
    install_http_metrics(
        app,
        max_operation_names=settings.metrics_max_operation_names,
        error_codes={*CODES, *CODE_BY_STATUS.values(), CSRF_PREVENTED},
        code_by_status=CODE_BY_STATUS,
    )
    if telemetry.tracing_enabled():
        from opentelemetry.instrumentation.flask import FlaskInstrumentor  # noqa: PLC0415

        # A server span per request (continuing the caller's traceparent); probes excluded.
        FlaskInstrumentor.instrument_app(  # type: ignore[no-untyped-call]
            app, excluded_urls="healthz,readyz"
        )
    install_cors(
        app,
        CorsPolicy(
            origins=frozenset(settings.cors_origins), allow_headers=settings.cors_allow_headers
        ),
    )
    install_hsts(
        app,
        settings.effective_hsts_max_age_s,
        include_subdomains=settings.hsts_include_subdomains,
    )
    _install_limits_and_errors(app, settings)

    app.register_blueprint(
        create_health_blueprint(lambda: accounts.readiness(timeout=settings.readiness_timeout_s))
    )
    options = ViewOptions(
        accounts=accounts,
        cookie=SessionCookie(
            name=settings.effective_session_cookie_name, secure=settings.cookie_secure
        ),
        graphiql=settings.graphiql_enabled,
        introspection=settings.introspection_enabled,
        max_depth=settings.max_query_depth,
        max_fields=settings.max_query_fields,
        max_aliases=settings.max_query_aliases,
        max_tokens=settings.max_query_tokens,
        document_cache_size=settings.document_cache_size,
    )
    app.add_url_rule(
        "/graphql",
        view_func=GatewayGraphQLView.as_view(
            "graphql", schema=schema.graphql_schema, options=options
        ),
    )
    if settings.graphiql_enabled:
        _install_graphiql(app)
    return app


def gateway_of(app: Flask) -> Gateway:
    """The objects ``app`` was built around."""
    gateway = app.extensions[EXTENSION]
    assert isinstance(gateway, Gateway)
    return gateway


def _install_graphiql(app: Flask) -> None:
    @app.get(f"{ASSETS_PATH}/<path:filename>")
    def graphiql_asset(filename: str) -> Response:
        """GraphiQL's vendored JS and CSS, and the page's own script."""
        return send_from_directory(STATIC_DIR, filename, max_age=3600)

    @app.get("/")
    def index() -> Any:
        """Development convenience: the root opens GraphiQL."""
        return redirect("/graphql")


def _install_limits_and_errors(app: Flask, settings: Settings) -> None:
    max_bytes = settings.max_body_bytes

    @app.before_request
    def _body_limit() -> BaseResponse | None:
        # Refuse on the declared length before reading anything (MAX_CONTENT_LENGTH also stops
        # bodies without a Content-Length while they are read).
        if request.content_length is not None and request.content_length > max_bytes:
            return _too_large(max_bytes)
        return None

    @app.after_request
    def _no_store(response: Response) -> Response:
        headers = response.headers
        # One pass over the response's few headers: werkzeug finds a missing one by raising and
        # catching KeyError, which cost more than the rest of this hook.
        present = set(headers.keys(lower=True))
        if "x-content-type-options" not in present:
            headers.add("X-Content-Type-Options", "nosniff")
        if "cache-control" not in present and request.path == "/graphql":
            headers.add("Cache-Control", "no-store")  # per-user data
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> BaseResponse:
        status = error.code or 500
        if status == 413:
            return _too_large(max_bytes)
        response = error_response(status, error.description or error.name)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> BaseResponse:
        _log.error("http.unexpected_error", path=request.path, exc_info=error)
        return error_response(500, "Internal server error.", requestId=get_request_id())


def _too_large(max_bytes: int) -> BaseResponse:
    return error_response(
        413, f"The request body is too large (at most {max_bytes} bytes).", maximum=max_bytes
    )
