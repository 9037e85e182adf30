"""Serving code: the GraphQL API (graphql/), the probes (health.py) and the GraphiQL page."""
