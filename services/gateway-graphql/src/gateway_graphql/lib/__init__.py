"""Helpers specific to the gateway: the session cookie, the vendored GraphiQL page."""
