"""Helpers that could become a library."""
