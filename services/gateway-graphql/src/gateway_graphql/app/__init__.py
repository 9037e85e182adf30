"""Wiring and entry points: settings, the composition root, the Flask app factory, gunicorn's
configuration and WSGI entry.

Importing this package is cheap: gunicorn's master imports ``app.gunicorn_config`` before it
forks, and must not create gRPC channels.
"""
