r"""gunicorn's configuration for ``one-process serve``: the gateway's, plus the code imported once.

    gunicorn -c python:one_process.gunicorn_config "one_process.app:create_wsgi_app()"

Everything of ``gateway_graphql.app.gunicorn_config`` (bind, workers, threads, timeouts, logging,
the summed metrics; it sets PROMETHEUS_MULTIPROC_DIR first), then the composition's modules
imported in the master: the workers inherit both services' code from the fork instead of each
importing it again (which doubles a worker's start-up next to the gateway's alone). Nothing is
built here: each worker builds its app, database pool and id lease after the fork.
"""

from __future__ import annotations

import importlib

# first: it sets PROMETHEUS_MULTIPROC_DIR before anything imports prometheus_client
from gateway_graphql.app.gunicorn_config import *  # noqa: F403 - gunicorn reads the module's names

importlib.import_module("one_process.app")  # imported before the fork, never built here
