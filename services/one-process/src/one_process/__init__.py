"""The gateway and the user-service in one process: the gateway's user-service client calls the
user-service's gRPC API through an in-process channel (same contract, same interceptors, no
socket). Neither service imports the other; this package composes them."""

__version__ = "0.1.0"
