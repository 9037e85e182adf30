"""The ``alvin_grpc`` pytest plugin (entry point ``pytest11``): fixture ``grpc_server_factory``.

Import-light on purpose: pytest loads this module in every project where the library is
installed, so grpc and the server code are imported only when the fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import grpc

    from alvin_grpc.server import GrpcServer, ServerSettings, ServiceRegistration

    GrpcServerFactory = Callable[..., tuple[GrpcServer, grpc.Channel]]

__all__ = ["grpc_server_factory"]


@pytest.fixture
def grpc_server_factory() -> Iterator[GrpcServerFactory]:
    """Start real servers on ``127.0.0.1:0``; returns ``factory(services, settings=None, *,
    channel_credentials=None, **build_server_kwargs) -> (server, channel)``."""
    import grpc  # noqa: PLC0415

    from alvin_grpc.server import ServerSettings, build_server  # noqa: PLC0415

    started: list[tuple[GrpcServer, grpc.Channel]] = []

    def factory(
        services: Iterable[ServiceRegistration | grpc.GenericRpcHandler],
        settings: ServerSettings | None = None,
        *,
        channel_credentials: grpc.ChannelCredentials | None = None,
        **kwargs: Any,
    ) -> tuple[GrpcServer, grpc.Channel]:
        loopback = {"grpc_host": "127.0.0.1", "grpc_port": 0}
        if settings is None:
            settings = ServerSettings(grpc_grace_period_s=0, **loopback)  # type: ignore[arg-type]
        else:
            settings = settings.model_copy(update=loopback)
        server = build_server(services, settings, **kwargs)
        if channel_credentials is None:
            channel = grpc.insecure_channel(server.address)
        else:
            channel = grpc.secure_channel(server.address, channel_credentials)
        started.append((server, channel))
        return server, channel

    yield factory

    for server, channel in reversed(started):
        channel.close()
        server.stop(grace=0)
