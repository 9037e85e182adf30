"""The GraphQL gateway: a Relay API over the user-service's gRPC API."""

__version__ = "0.1.0"
