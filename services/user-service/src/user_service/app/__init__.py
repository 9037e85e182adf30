"""Wiring: settings, the composition root (``bootstrap``) and the processes it starts.

``server`` (the gRPC server), ``worker`` (the Celery app), ``scheduler`` (the periodic jobs).
"""
