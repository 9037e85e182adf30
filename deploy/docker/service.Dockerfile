# The image of every service: one Dockerfile, the service chosen by build arguments.
#
#   docker compose build               # each service with its arguments from docker-compose.yml
#   docker build -f deploy/docker/service.Dockerfile -t alvin/user-service:dev \
#       --build-arg SERVICE=user-service \
#       --build-arg LIBS="alvin-python-lib alvin-grpc-py alvin-protos" .
#   (context: the repository root; BuildKit, Docker's default builder since 23.0, for RUN --mount)
#
# Build arguments:
#   SERVICE  the service's folder under services/, which is also its distribution name
#   SCRIPT   its console script ([project.scripts]); default: SERVICE. Installed as `manage`,
#            the image's ENTRYPOINT.
#   LIBS     the folders of libs/ it needs, directly or through another library, space-separated.
#            Installed from wheels built here; `nox -s compose` checks the list is complete (a
#            library left out would be looked up on the public index).
#
# The image runs the process it is given and has no default one: `docker run IMAGE grpcserver`,
# `... worker`, `... scheduler`, `... serve`, `... db upgrade`; without a command it lists them.
# The health check belongs to the process too (a gRPC probe, a Celery ping, an HTTP GET): each
# long-running container gets its own where it is deployed (docker-compose.yml, the ECS task
# definitions of deploy/terraform-ecs), so the image declares none.
# checkov:skip=CKV_DOCKER_2:the health check depends on the process; docker-compose.yml and the ECS task definitions give each container its own
#
# A service in a repository of its own (see its README): copy this file into that repository,
# make the arguments' values the defaults (ARG SERVICE=billing-service, ARG SCRIPT=...), copy the
# repository (COPY . services/${SERVICE}/) instead of its folder, and drop LIBS and libs/: the
# shared libraries then come from the private index like every other dependency (its URL and
# credentials as a BuildKit secret, RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf,
# never as an ARG or ENV, which stay in the image's history).

# ---------------------------------------------------------------------------------------------
# builder: wheels of the shared libraries and of the service, exactly as the private index would
# serve them (no dependencies here: those come from PyPI in the final stage).
# ---------------------------------------------------------------------------------------------
FROM python:3.11.10-slim-bookworm AS builder

ARG SERVICE
ARG LIBS

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY libs/ libs/
COPY services/${SERVICE}/ services/${SERVICE}/

RUN if [ -z "$SERVICE" ] || [ -z "$LIBS" ]; then \
        echo "build arguments SERVICE and LIBS are required (docker-compose.yml passes them)" >&2; \
        exit 1; \
    fi \
    && set -- "./services/${SERVICE}" \
    && for lib in $LIBS; do set -- "$@" "./libs/${lib}"; done \
    && pip wheel --no-deps --wheel-dir /wheels "$@"

# ---------------------------------------------------------------------------------------------
# runtime: the wheels above plus their runtime dependencies from PyPI (binary wheels only: no
# compilers here), no dev/test extras, no pip cache, a non-root user.
# ---------------------------------------------------------------------------------------------
FROM python:3.11.10-slim-bookworm AS runtime

ARG SERVICE
ARG SCRIPT=${SERVICE}

LABEL org.opencontainers.image.title="${SERVICE}" \
      org.opencontainers.image.description="alvin ${SERVICE} (services/${SERVICE}/README.md)" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    APP_ENV=production

# The local wheels are installed by file name, so a package of the same name on PyPI can never
# replace them; the wheels are bind-mounted from the builder and never become a layer. The uid is
# fixed, not an argument: the ECS task definitions and the container checks rely on 10001.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv "$VIRTUAL_ENV" \
    && "$VIRTUAL_ENV/bin/pip" install --no-cache-dir --only-binary=:all: /wheels/*.whl \
    && ln -s "$VIRTUAL_ENV/bin/${SCRIPT}" "$VIRTUAL_ENV/bin/manage" \
    && "$VIRTUAL_ENV/bin/manage" --help > /dev/null \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app

WORKDIR /app
USER 10001:10001

STOPSIGNAL SIGTERM
ENTRYPOINT ["manage"]
CMD ["--help"]
