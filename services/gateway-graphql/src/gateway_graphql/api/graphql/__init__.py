"""The GraphQL API: schema (types, queries, mutations), context and loaders, errors, limits, view."""
