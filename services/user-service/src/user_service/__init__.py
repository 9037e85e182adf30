"""The user-service: users, authentication and sessions over gRPC."""

__version__ = "0.1.0"
