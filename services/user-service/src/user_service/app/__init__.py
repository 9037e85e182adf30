"""Wiring: settings, initialisation and the app instances (gRPC server, Celery, scheduler)."""
