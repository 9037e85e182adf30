"""Helpers for the gateway's tests (the tests themselves live in ``tests/``): the real
user-service as a subprocess, an RPC-counting client interceptor, a GraphQL test client."""
