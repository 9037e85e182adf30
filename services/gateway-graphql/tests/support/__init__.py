"""Helpers for the gateway's tests: the real user-service as a subprocess
(``user_service_process``), an RPC-counting client interceptor (``rpc_counter``) and a GraphQL
client over Flask's test client (``graphql_client``). Never imported by ``src/``."""
