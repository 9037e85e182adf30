"""Clients of other services: the user-service over gRPC."""
