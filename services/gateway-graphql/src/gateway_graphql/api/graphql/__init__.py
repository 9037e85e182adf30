"""GraphQL API: schema, per-request context and loaders, error mapping, the Flask view."""
