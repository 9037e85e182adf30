"""Helpers that could become a library: CORS, request ids, GraphQL cost limits."""
