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
#   BUNDLES  the other folders of services/ it runs in its own process, space-separated (empty
#            for a service; `one-process` bundles `user-service gateway-graphql`): their wheels
#            are built and installed next to it. `nox -s compose` checks it too.
#   PYTHON_IMAGE  the base image, pinned by digest (the default). Renovate (renovate.json) keeps
#            the digest fresh; by hand: `docker buildx imagetools inspect python:3.11.10-slim-bookworm`
#            and copy the index digest. The offline test harness (kit/containers) passes its
#            stand-in's tag instead.
#   RDS_CA_BUNDLE_URL / RDS_CA_BUNDLE_SHA256  the Amazon RDS CA bundle, added to the image at
#            /etc/ssl/certs/rds-global-bundle.pem (the database URL's sslrootcert in
#            deploy/terraform-ecs) when the URL is given, checked against the sha256; empty by
#            default because a build without internet cannot fetch it. Give both for an image that
#            connects to RDS with verify-full (see security-exceptions.md).
#
# Dependencies: services/${SERVICE}/requirements.lock (deploy/docker/lock.py writes it) pins
# every third-party distribution with its hashes; pip installs exactly that with
# --require-hashes --no-deps, then the kit's own wheels with --no-deps, then `pip check` proves
# nothing is missing. Nothing is resolved at build time.
#
# The image runs the process it is given and has no default one: `docker run IMAGE grpcserver`,
# `... worker`, `... scheduler`, `... serve`, `... db upgrade`; without a command it lists them.
# The health check belongs to the process too (a gRPC probe, a Celery ping, an HTTP GET): each
# long-running container gets its own where it is deployed (docker-compose.yml, the ECS task
# definitions of deploy/terraform-ecs), so the image declares none.
# checkov:skip=CKV_DOCKER_2:the health check depends on the process; docker-compose.yml and the ECS task definitions give each container its own
# checkov:skip=CKV_DOCKER_7:FROM ${PYTHON_IMAGE}, whose default is pinned by tag and digest (deploy/tests/test_supply_chain.py checks it)
#
# A service in a repository of its own (see its README): copy this file into that repository,
# make the arguments' values the defaults (ARG SERVICE=billing-service, ARG SCRIPT=...), copy the
# repository (COPY . services/${SERVICE}/) instead of its folder, and drop LIBS and libs/: the
# shared libraries then come from the private index like every other dependency (its URL and
# credentials as a BuildKit secret, RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf,
# never as an ARG or ENV, which stay in the image's history).

# ---------------------------------------------------------------------------------------------
# builder: wheels of the shared libraries and of the service, exactly as the private index would
# serve them, and the service's lock (no dependencies here: those come from PyPI in the final
# stage).
# ---------------------------------------------------------------------------------------------
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm@sha256:840e180ebcc6e5c8efab209c43f5e40fd2af98cb49db5c7103c90539c56bb30e

FROM ${PYTHON_IMAGE} AS builder

ARG SERVICE
ARG LIBS
ARG BUNDLES=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY libs/ libs/
# every service folder (without tests: .dockerignore): BUNDLES may name others; the wheels are
# reproducible, so the runtime stage's layer changes only when this image's packages do
COPY services/ services/

RUN if [ -z "$SERVICE" ] || [ -z "$LIBS" ]; then \
        echo "build arguments SERVICE and LIBS are required (docker-compose.yml passes them)" >&2; \
        exit 1; \
    fi \
    && set -- "./services/${SERVICE}" \
    && for lib in $LIBS; do set -- "$@" "./libs/${lib}"; done \
    && for bundled in $BUNDLES; do set -- "$@" "./services/${bundled}"; done \
    && pip wheel --no-deps --wheel-dir /wheels "$@" \
    && cp "services/${SERVICE}/requirements.lock" /wheels/requirements.lock

# ---------------------------------------------------------------------------------------------
# runtime: the locked dependencies from PyPI (hash-checked binary wheels only: no compilers
# here), then the wheels above, no dev/test extras, no pip cache, a non-root user.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG SERVICE
ARG SCRIPT=${SERVICE}
ARG RDS_CA_BUNDLE_URL=""
ARG RDS_CA_BUNDLE_SHA256=""

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
    && "$VIRTUAL_ENV/bin/pip" install --no-cache-dir --only-binary=:all: --require-hashes \
        --no-deps -r /wheels/requirements.lock \
    && "$VIRTUAL_ENV/bin/pip" install --no-cache-dir --no-deps /wheels/*.whl \
    && "$VIRTUAL_ENV/bin/pip" check \
    && ln -s "$VIRTUAL_ENV/bin/${SCRIPT}" "$VIRTUAL_ENV/bin/manage" \
    && "$VIRTUAL_ENV/bin/manage" --help > /dev/null \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app

# The RDS CA bundle, when its URL is given (see the arguments above): fetched with Python (the
# slim image has no curl) and refused unless its sha256 is the one given.
RUN if [ -n "$RDS_CA_BUNDLE_URL" ]; then \
        python -c "import hashlib, sys, urllib.request; \
data = urllib.request.urlopen(sys.argv[1], timeout=60).read(); \
ok = hashlib.sha256(data).hexdigest() == sys.argv[2]; \
sys.exit('RDS CA bundle: sha256 mismatch') if not ok else None; \
open('/etc/ssl/certs/rds-global-bundle.pem', 'wb').write(data)" \
            "$RDS_CA_BUNDLE_URL" "$RDS_CA_BUNDLE_SHA256"; \
    fi

WORKDIR /app
USER 10001:10001

STOPSIGNAL SIGTERM
ENTRYPOINT ["manage"]
CMD ["--help"]
