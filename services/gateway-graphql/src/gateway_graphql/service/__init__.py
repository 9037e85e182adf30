"""Business logic of the gateway (no Flask, Graphene or grpc here)."""
