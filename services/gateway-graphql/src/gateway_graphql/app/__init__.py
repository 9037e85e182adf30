"""Wiring: settings, process initialisation, the Flask app, the gunicorn configuration.

Importing this package is cheap (gunicorn's master imports ``app.gunicorn_config`` before forking, and
must not create gRPC channels).
"""
