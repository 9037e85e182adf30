"""Clients of other services and vendors (email delivery)."""
