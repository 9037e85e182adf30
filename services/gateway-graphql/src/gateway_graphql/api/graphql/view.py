"""The ``/graphql`` endpoint: graphql-server's Flask view with the gateway's rules.

On top of ``graphql_server.flask.GraphQLView`` (GET and POST, JSON bodies, GraphiQL on GET with
``Accept: text/html``):

- execution with ``GatewayExecutionContext`` (graphql-sync-dataloaders' deferred execution), so
  that per-request ``SyncDataLoader`` batching works under a sync view;
- limits: lexical tokens at parse time, then depth, fields and aliases as validation rules;
  introspection refused when it is off;
- a per-worker LRU cache of parsed and validated documents keyed by the query text: clients send
  the same few operations over and over, and validation is the gateway's largest CPU cost after
  the gRPC call (about a fifth of a worker under load). Only short queries are cached, so the
  cache's memory stays bounded whatever clients send;
- CSRF by Apollo Server's rule (:mod:`gateway_graphql.web.csrf`): a POST that a browser could
  send cross-site without a CORS preflight (``Content-Type`` ``text/plain``, form or multipart, or
  none, and no ``X-Requested-With``, ``Apollo-Require-Preflight`` or ``X-Apollo-Operation-Name``)
  is refused with 403 ``CSRF_PREVENTED`` before its body is read, unless it carries
  ``Authorization: Bearer`` (then the cookie is ignored). JSON POSTs, what every GraphQL client
  sends, need no extra header: a cross-site JSON ``fetch`` is preflighted, and only the origins
  CORS lists pass. Mutations over GET are refused (405);
- every error with ``extensions.code`` (see :mod:`.errors`), HTTP-level failures as JSON;
- the GraphiQL page and its assets served by the gateway itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import orjson
from flask import Request, Response, request
from flask.typing import ResponseReturnValue
from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    NoSchemaIntrospectionCustomRule,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql_server.exceptions import GraphQLValidationError
from graphql_server.flask.views import GraphQLView
from graphql_server.http import GraphQLHTTPResponse, GraphQLRequestData
from graphql_server.http.exceptions import HTTPException
from graphql_server.http.parse_content_type import parse_content_type
from graphql_server.http.sync_base_view import SyncHTTPRequestAdapter

from gateway_graphql.api.graphiql import CONTENT_SECURITY_POLICY, render_page
from gateway_graphql.api.graphql.context import (
    BEARER,
    COOKIE,
    Client,
    GraphQLContext,
    TokenSource,
)
from gateway_graphql.api.graphql.errors import PARSE_FAILED, VALIDATION_FAILED, format_errors
from gateway_graphql.api.graphql.execution import GatewayExecutionContext
from gateway_graphql.api.graphql.limits import password_fields_rule, query_limits_rule
from gateway_graphql.service.accounts import Accounts
from gateway_graphql.web.cookies import SessionCookie
from gateway_graphql.web.csrf import PREFLIGHT_HEADERS, is_preflighted
from gateway_graphql.web.http_metrics import record_graphql_errors, remember_payload
from gateway_graphql.web.json_errors import error_response

__all__ = ["CSRF_PREVENTED", "GatewayGraphQLView", "ViewOptions"]

CSRF_PREVENTED = "CSRF_PREVENTED"
CSRF_MESSAGE = (
    "This request has been blocked as a potential Cross-Site Request Forgery (CSRF): send it with "
    "a Content-Type other than text/plain, application/x-www-form-urlencoded or "
    "multipart/form-data (GraphQL clients send application/json), or with a non-empty "
    + ", ".join(PREFLIGHT_HEADERS)
    + " header."
)
# Longer query texts are parsed and validated on every request, never kept (bounded memory).
CACHED_QUERY_MAX_CHARS = 4096

# graphql-server's Content-Type parser (email.message), once per distinct header value: clients
# send the same one or two. The parameters returned are shared: read them, never change them.
_content_type: Callable[[str], tuple[str, dict[str, str]]] = lru_cache(maxsize=64)(
    parse_content_type
)


@dataclass(frozen=True)
class ViewOptions:
    """What the view needs from the app's settings."""

    accounts: Accounts
    cookie: SessionCookie
    graphiql: bool = False
    introspection: bool = False
    max_depth: int = 10
    max_fields: int = 200
    max_aliases: int = 30
    max_tokens: int = 5000
    document_cache_size: int = 256


def _bearer_token(req: Request) -> str | None:
    scheme, _, value = req.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _token(req: Request, cookie_name: str) -> tuple[str | None, TokenSource | None]:
    bearer = _bearer_token(req)
    if bearer is not None:
        return bearer, BEARER  # the cookie, if any, is ignored: no CSRF exposure
    # No Cookie header: werkzeug would still build an empty cookie dict to look the name up in.
    cookie = req.cookies.get(cookie_name) if req.environ.get("HTTP_COOKIE") else None
    if cookie:
        return cookie, COOKIE
    return None, None


class CsrfRefused(HTTPException):
    """A request a cross-site page could have sent with the user's cookie."""

    def __init__(self) -> None:
        super().__init__(403, CSRF_MESSAGE)


def _request_body() -> str:
    """The current request's body as text (UnicodeDecodeError when it is not UTF-8)."""
    return request.get_data(parse_form_data=False).decode()


def _tagged(errors: list[GraphQLError], code: str) -> list[GraphQLError]:
    for error in errors:
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", code)
        error.extensions = extensions
    return errors


class GatewayGraphQLView(GraphQLView[GraphQLContext, None]):
    """``/graphql`` (GET and POST)."""

    methods: ClassVar[list[str]] = ["GET", "POST"]
    init_every_request = False  # one instance serves every request (no per-request state here)

    def __init__(self, *, schema: GraphQLSchema, options: ViewOptions) -> None:
        super().__init__(
            schema=schema,
            graphql_ide="graphiql" if options.graphiql else None,
            allow_queries_via_get=True,
        )
        self.options = options
        rules: list[type[ASTValidationRule]] = [
            *specified_rules,
            query_limits_rule(
                max_depth=options.max_depth,
                max_fields=options.max_fields,
                max_aliases=options.max_aliases,
                code=VALIDATION_FAILED,
            ),
            password_fields_rule(code=VALIDATION_FAILED),
        ]
        if not options.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self.validation_rules = tuple(rules)
        self._checked: Callable[[str], tuple[DocumentNode, tuple[GraphQLError, ...]]] = (
            lru_cache(maxsize=options.document_cache_size)(self._parse_and_validate)
            if options.document_cache_size
            else self._parse_and_validate
        )

    # ------------------------------------------------------------------------- per request

    def get_context(self, request: Request, response: Response) -> GraphQLContext:
        token, source = _token(request, self.options.cookie.name)
        return GraphQLContext(
            accounts=self.options.accounts,
            cookie=self.options.cookie,
            response=response,
            token=token,
            token_source=source,
            client=Client(
                user_agent=request.headers.get("User-Agent", "")[:512],
                ip=request.remote_addr or "",
            ),
        )

    def _parse_and_validate(self, query: str) -> tuple[DocumentNode, tuple[GraphQLError, ...]]:
        try:
            document = parse(query, max_lexical_tokens=self.options.max_tokens)
        except GraphQLSyntaxError as error:  # not cached: raised, so lru_cache keeps nothing
            raise GraphQLValidationError(_tagged([error], PARSE_FAILED)) from None
        errors = validate(self.schema, document, self.validation_rules)
        return document, tuple(_tagged(errors, VALIDATION_FAILED))

    def checked_document(self, query: str | None) -> DocumentNode:
        """The parsed document, validated against the schema and limits (cached when short)."""
        if not query:
            raise HTTPException(400, "No GraphQL query found in the request.")
        if len(query) <= CACHED_QUERY_MAX_CHARS:
            document, errors = self._checked(query)
        else:
            document, errors = self._parse_and_validate(query)
        if errors:
            raise GraphQLValidationError(list(errors))
        return document

    def execute_operation(
        self,
        request_adapter: SyncHTTPRequestAdapter,
        request_data: GraphQLRequestData,
        context: GraphQLContext,
        root_value: None,
        allowed_operation_types: set[OperationType],
    ) -> ExecutionResult:
        document = self.checked_document(request_data.query)
        operation = get_operation_ast(document, request_data.operation_name)
        if operation is not None and operation.operation not in allowed_operation_types:
            raise HTTPException(405, "Mutations need POST.")
        try:
            result = execute(
                self.schema,
                document,
                root_value=root_value,
                context_value=context,
                variable_values=request_data.variables,
                operation_name=request_data.operation_name,
                execution_context_class=GatewayExecutionContext,
            )
        except Exception as error:  # outside any resolver: a bug; logged by format_error
            return ExecutionResult(
                data=None, errors=[GraphQLError("Execution failed.", original_error=error)]
            )
        assert isinstance(result, ExecutionResult)  # sync execution (no awaitables here)
        return result

    def process_result(
        self, request: Request, result: ExecutionResult, strict: bool = False
    ) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = {}
        if not (strict and result.data is None):  # graphql-response+json: no data, no key
            response["data"] = result.data
        if result.errors:
            formatted = format_errors(result.errors)
            record_graphql_errors(error["extensions"]["code"] for error in formatted)
            errors: list[object] = [*formatted]
            response["errors"] = errors
        if result.extensions:
            response["extensions"] = result.extensions
        return response

    def parse_http_body(
        self, request: SyncHTTPRequestAdapter, context: GraphQLContext
    ) -> GraphQLRequestData:
        """Refuse a POST that could be a cross-site forgery before its body is read, then read
        the request as graphql-server does (multipart uploads off), with the ``Content-Type``
        parsed once per distinct value and the body read without werkzeug's form parsing (only a
        JSON body is read)."""
        method = request.method
        headers = request.headers
        if method == "POST" and context.token_source != BEARER and not is_preflighted(headers):
            raise CsrfRefused
        accept = headers.get("accept", "") or headers.get("http-accept", "")
        content_type, params = _content_type(request.content_type or "")
        strict = "application/graphql-response+json" in accept
        if method == "GET":
            data = self.parse_query_params(request.query_params)
        elif "application/json" in content_type:
            data = self.parse_json(_request_body())
        elif self._is_multipart_subscriptions(content_type, params):
            raise HTTPException(400, "Multipart subscriptions are not supported in sync mode")
        else:
            raise HTTPException(400, "Unsupported content type")
        return self.get_graphql_request_data(
            request, context, data, "http-strict" if strict else "http"
        )

    def dispatch_request(self, **kwargs: Any) -> ResponseReturnValue:
        try:
            return self.run(request=request)
        except CsrfRefused as error:
            record_graphql_errors([CSRF_PREVENTED])
            return error_response(error.status_code, error.reason, code=CSRF_PREVENTED)
        except HTTPException as error:
            return error_response(error.status_code, error.reason)  # counted by its status
        except UnicodeDecodeError:  # graphql-server decodes the body as UTF-8 unchecked
            return error_response(400, "The request body is not valid UTF-8.")

    def encode_json(self, data: object) -> str:
        """The response body: orjson, several times faster than ``json.dumps`` on a GraphQL
        result (only strings, numbers, booleans, null, lists and objects)."""
        return orjson.dumps(data).decode()

    def parse_json(self, data: str | bytes) -> Any:
        """The body (or ``variables`` parameter) as a JSON object; 400 for anything else,
        including JSON nested too deeply for the parser."""
        try:
            parsed = self.decode_json(data)
        except (ValueError, RecursionError) as error:
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        if not isinstance(parsed, dict):
            raise HTTPException(400, "The request body must be a JSON object.")
        if request.method == "POST":  # the body (a GET parses only its `variables` here)
            remember_payload(parsed)
        return parsed

    def render_graphql_ide(self, request: Request, request_data: GraphQLRequestData) -> Response:
        html = render_page(
            endpoint=request.path,
            query=request_data.query,
            variables=request_data.variables,
            operation_name=request_data.operation_name,
        )
        return Response(
            html,
            content_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
            },
        )
