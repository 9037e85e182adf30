"""Factories and helpers for the service's tests (the tests themselves live in tests/)."""
