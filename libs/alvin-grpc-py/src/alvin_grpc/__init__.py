"""gRPC building blocks of the alvin backend kit.

Modules: ``server`` (settings, builder, graceful shutdown), ``interceptors`` (request context,
access log, metrics, service authentication, error mapping, database session cleanup), ``errors``
(domain exceptions <-> ``google.rpc.Status``), ``client`` (channel factory, typed client base),
``health`` (dependency checks, ``alvin-grpc-health`` probe) and ``testing`` (pytest plugin).

Importing the package itself is cheap: nothing here imports grpc.
"""

__version__ = "0.3.0"

#: Shortest shared token a deployed server accepts or a deployed client sends (a random value of
#: 32 characters or more; ``openssl rand -base64 32`` gives 44). Here, not in ``interceptors``, so
#: that settings modules can read it without importing grpc or the metrics registry.
MIN_SERVICE_TOKEN_LENGTH = 32
