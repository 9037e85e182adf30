"""Helpers specific to this service."""
