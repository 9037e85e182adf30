"""Database access: engine, per-unit-of-work sessions, declarative helpers, error translation."""

from alvin_python_lib.db.database import (
    Database,
    FlaskLike,
    SupportsRemove,
    set_test_binding,
    transaction,
)
from alvin_python_lib.db.deadline import statement_deadline
from alvin_python_lib.db.engine import create_engine, normalize_url
from alvin_python_lib.db.errors import (
    domain_error_from_integrity,
    translate_db_errors,
    unique_violation_field,
)
from alvin_python_lib.db.models import (
    NAMING_CONVENTION,
    SnowflakePrimaryKey,
    Timestamps,
    make_metadata,
    utcnow,
)

__all__ = [
    "NAMING_CONVENTION",
    "Database",
    "FlaskLike",
    "SnowflakePrimaryKey",
    "SupportsRemove",
    "Timestamps",
    "create_engine",
    "domain_error_from_integrity",
    "make_metadata",
    "normalize_url",
    "set_test_binding",
    "statement_deadline",
    "transaction",
    "translate_db_errors",
    "unique_violation_field",
    "utcnow",
]
