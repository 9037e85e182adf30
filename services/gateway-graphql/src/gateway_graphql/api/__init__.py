"""Serving code: the GraphQL endpoint and the health endpoints (wire <-> service only)."""
