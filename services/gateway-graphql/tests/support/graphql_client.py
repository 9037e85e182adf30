"""A small GraphQL client over Flask's test client."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

__all__ = ["GraphQLTestClient"]


class GraphQLTestClient:
    """POSTs operations to ``/graphql`` as JSON, as GraphQL clients do."""

    def __init__(self, client: FlaskClient, *, path: str = "/graphql") -> None:
        self.client = client
        self.path = path

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        operation_name: str | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> TestResponse:
        """The raw response."""
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation_name is not None:
            body["operationName"] = operation_name
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return self.client.post(self.path, json=body, headers=sent)

    def execute(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """The JSON body of a 200 response."""
        response = self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.is_json, response.get_data(as_text=True)
        return response.get_json()
