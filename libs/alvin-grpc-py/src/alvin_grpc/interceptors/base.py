"""The one hook every interceptor of this kit overrides: :meth:`ServerInterceptor.intercept`.

In the spirit of grpc-interceptor's ``ServerInterceptor``: a subclass overrides one method,
``intercept(method, request_or_iterator, context, call)``, and continues the call through
``method``. Here ``intercept`` is a generator and continues with
``return (yield from method(request_or_iterator, context))``: for a unary response that hands
back the response message, for a streamed one it passes every message on and ends when the stream
ends. So one ``try``/``finally`` around the ``yield from`` surrounds the whole call for all four RPC
kinds, and :func:`final_code` reads the call's final status code there::

    class SlowCalls(ServerInterceptor):
        def intercept(self, method, request_or_iterator, context, call):
            started = time.perf_counter()
            try:
                return (yield from method(request_or_iterator, context))
            finally:
                if time.perf_counter() - started > 1.0:
                    log.warning("grpc.slow", method=call.method, code=final_code(context).name)

Each interceptor wraps a method's handler once and reuses the wrapper for every later call
(grpc asks each interceptor for the handler on every call); consecutive interceptors of this
kind run as one chain of generators, driven once per call.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import grpc

__all__ = [
    "CallInfo",
    "Continuation",
    "ServerInterceptor",
    "context_code",
    "final_code",
    "metadata_value",
]

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")
_Self = TypeVar("_Self", bound="ServerInterceptor")

Continuation = Callable[[Any, grpc.ServicerContext], Generator[Any, None, Any]]
"""``method`` of :meth:`ServerInterceptor.intercept`: the next interceptor, or the handler."""

_KINDS = {
    (False, False): "unary",
    (False, True): "server_stream",
    (True, False): "client_stream",
    (True, True): "bidi_stream",
}

# Method names come from clients; a generic handler may answer any of them. Past this many
# methods, wrappers are still made but no longer kept.
_MAX_CACHED_METHODS = 1024

_CHAIN = "_alvin_grpc_chain"  # on a wrapped behavior: its generator form, for the next interceptor
_THREAD_POOL = "experimental_thread_pool"
_NON_BLOCKING = "experimental_non_blocking"


@dataclass(frozen=True, slots=True)
class CallInfo:
    """The method being called: made once per method, the same object for each of its calls."""

    method: str  # "/package.Service/Method"
    service: str  # "package.Service"
    name: str  # "Method"
    kind: str  # unary | server_stream | client_stream | bidi_stream (go-grpc-prometheus grpc_type)
    request_streaming: bool
    response_streaming: bool

    @classmethod
    def of(cls, method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> CallInfo:
        """The call info of ``method`` (``"/package.Service/Method"``) served by ``handler``."""
        service, _, name = method.lstrip("/").partition("/")
        streams = (bool(handler.request_streaming), bool(handler.response_streaming))
        return cls(method, service, name, _KINDS[streams], *streams)


def metadata_value(context: grpc.ServicerContext, key: str) -> str | None:
    """The first invocation metadata value for ``key`` (lower case) as text, or None."""
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v.decode("utf-8", "replace") if isinstance(v, bytes) else v
    return None


def context_code(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The status code already set on ``context`` (by ``abort`` or ``set_code``), or None."""
    getter = getattr(context, "code", None)
    value = getter() if callable(getter) else None
    return value if isinstance(value, grpc.StatusCode) else None


def _is_active(context: grpc.ServicerContext) -> bool:
    try:
        return bool(context.is_active())
    except Exception:  # a context without a live call
        return False


def final_code(
    context: grpc.ServicerContext, error: BaseException | None = None
) -> grpc.StatusCode:
    """The status code the call ends with, as seen from an interceptor once the call is over.

    ``error`` is what the rest of the chain raised (None: it returned). The code set on
    ``context`` wins (an abort, e.g. by the error mapping); else OK when nothing was raised,
    CANCELLED when the client went away (the stream was closed, or the call is no longer active),
    and UNKNOWN (grpcio's code for an exception) otherwise.
    """
    code = context_code(context)
    if code is not None:
        return code
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, GeneratorExit) or not _is_active(context):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class ServerInterceptor(grpc.ServerInterceptor, metaclass=abc.ABCMeta):
    """Base class of server interceptors: subclasses override :meth:`intercept` and nothing else.

    Two class attributes tune which calls reach ``intercept`` (read when a method is first
    called): ``skip_services``, services left alone (e.g. health checks), and
    ``intercept_non_blocking``. Handlers marked ``experimental_non_blocking`` (grpcio's health
    ``Watch``) answer through a callback after their behavior returned, so ``intercept`` would see
    only the start of such a call: they are passed through untouched unless
    ``intercept_non_blocking`` is true (for checks before the call, like authentication).
    """

    skip_services: frozenset[str] = frozenset()
    intercept_non_blocking: ClassVar[bool] = False

    _handlers: dict[str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isgeneratorfunction(cls.intercept):
            raise TypeError(
                f"{cls.__qualname__}.intercept must be a generator: continue the call with "
                "`return (yield from method(request_or_iterator, context))`"
            )

    def __new__(cls: type[_Self], *args: Any, **kwargs: Any) -> _Self:
        # Here rather than in __init__, which subclasses override without calling it.
        self = super().__new__(cls)
        self._handlers = {}
        return self

    @abc.abstractmethod
    def intercept(
        self,
        method: Continuation,
        request_or_iterator: Any,
        context: grpc.ServicerContext,
        call: CallInfo,
    ) -> Generator[Any, None, Any]:
        """Do something around the call; continue it with ``yield from method(...)``.

        ``request_or_iterator`` is the request message, or the iterator of request messages of a
        client stream. The return value is the response of a unary-response call (None for a
        streamed response). To stop the call, abort: ``context.abort(...)`` or
        :func:`alvin_grpc.errors.abort_with_error`.
        """
        return (yield from method(request_or_iterator, context))

    def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], grpc.RpcMethodHandler[_Req, _Resp] | None
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        """grpc's interceptor API: the handler with :meth:`intercept` around it (not a hook)."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        cached = self._handlers.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, CallInfo.of(method, handler))
        if len(self._handlers) < _MAX_CACHED_METHODS or method in self._handlers:
            self._handlers[method] = (handler, wrapped)
        return wrapped

    def _wrap(
        self, handler: grpc.RpcMethodHandler[_Req, _Resp], call: CallInfo
    ) -> grpc.RpcMethodHandler[_Req, _Resp]:
        if call.service in self.skip_services:
            return handler
        behavior = _behavior(handler)
        intercept = self.intercept
        if getattr(behavior, _NON_BLOCKING, False):
            if not self.intercept_non_blocking:
                return handler

            def non_blocking(request: Any, context: grpc.ServicerContext, send: Any) -> Any:
                def start(request: Any, context: grpc.ServicerContext) -> Generator[Any, None, Any]:
                    yield from ()
                    return behavior(request, context, send)

                return _run_unary(intercept(start, request, context, call))

            setattr(non_blocking, _NON_BLOCKING, True)
            _keep_thread_pool(behavior, non_blocking)
            return _same_kind(handler, non_blocking)

        inner: Continuation = getattr(behavior, _CHAIN, None) or _as_generator(behavior, call)

        def chain(request: Any, context: grpc.ServicerContext) -> Generator[Any, None, Any]:
            return intercept(inner, request, context, call)

        if call.response_streaming:
            wrapped: Callable[..., Any] = chain  # grpc iterates the generator
        else:

            def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
                return _run_unary(chain(request, context))

        setattr(wrapped, _CHAIN, chain)
        _keep_thread_pool(behavior, wrapped)
        return _same_kind(handler, wrapped)


def _behavior(handler: grpc.RpcMethodHandler[Any, Any]) -> Callable[..., Any]:
    behaviors: tuple[Callable[..., Any] | None, ...] = (
        handler.unary_unary,
        handler.unary_stream,
        handler.stream_unary,
        handler.stream_stream,
    )
    for behavior in behaviors:
        if behavior is not None:
            return behavior
    raise ValueError("a method handler without a behavior")


def _as_generator(behavior: Callable[..., Any], call: CallInfo) -> Continuation:
    """A plain handler behavior in the generator form of :class:`Continuation`."""
    if call.response_streaming:

        def stream(request: Any, context: grpc.ServicerContext) -> Generator[Any, None, Any]:
            return (yield from behavior(request, context))

        return stream

    def unary(request: Any, context: grpc.ServicerContext) -> Generator[Any, None, Any]:
        yield from ()  # makes this a generator: the chain delegates to it with `yield from`
        return behavior(request, context)

    return unary


def _run_unary(steps: Generator[Any, None, Any]) -> Any:
    """Run a unary-response chain to its end: its return value is the response."""
    try:
        steps.send(None)
    except StopIteration as done:
        return done.value
    steps.close()
    raise RuntimeError("an interceptor yielded a message in a call with a unary response")


def _keep_thread_pool(behavior: Callable[..., Any], wrapped: Callable[..., Any]) -> None:
    pool = getattr(behavior, _THREAD_POOL, None)
    if pool is not None:
        setattr(wrapped, _THREAD_POOL, pool)


def _same_kind(
    handler: grpc.RpcMethodHandler[_Req, _Resp], behavior: Callable[..., Any]
) -> grpc.RpcMethodHandler[_Req, _Resp]:
    """A handler of the same kind and serializers as ``handler``, with another behavior."""
    des, ser = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(behavior, des, ser)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(behavior, des, ser)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(behavior, des, ser)
    return grpc.stream_stream_rpc_method_handler(behavior, des, ser)
