"""Celery tasks (thin: they call ``user_service.service``). Bound to the app in ``app.celery``."""
