"""The kit's own container rules, one module per thing they read (``check_containers.py`` runs them).

- ``images``: image references pinned by version or digest (shared by the other modules);
- ``dockerfile``: one Dockerfile's rules, read with a service's build arguments;
- ``builds``: what docker-compose.yml builds: every service, with arguments that name its folder,
  its console script and every shared library it needs, and the Dockerfile checked with them;
- ``compose_config``: docker-compose.yml as Compose renders it, against .env.example and its own
  defaults (variables, placeholders, secrets);
- ``compose_services``: each service of that model (images, health checks, restarts, depends_on,
  environment, stop grace, volumes);
- ``hardening``: read-only root file systems, dropped capabilities, no-new-privileges, networks
  that keep the data tier away from the edge;
- ``nginx``: deploy/compose/nginx.conf, by rules and with ``nginx -t``.

Generic rules are left to the tools people use (hadolint, checkov, Compose ``config``; see
``lint_dockerfiles.py``).
"""
