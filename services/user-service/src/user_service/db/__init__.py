"""Persistence: the models, their migrations and the repositories (functions on a Session).

The engine and sessions (an ``alvin_python_lib.db.Database``) are built by the composition root,
``user_service.app.bootstrap``, and handed to the use cases.
"""
