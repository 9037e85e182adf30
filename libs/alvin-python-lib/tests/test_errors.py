from __future__ import annotations

import pytest

from alvin_python_lib import errors


def test_each_error_has_a_distinct_code_and_a_safe_default_message() -> None:
    classes = [
        errors.NotFound,
        errors.AlreadyExists,
        errors.InvalidArgument,
        errors.PermissionDenied,
        errors.Unauthenticated,
        errors.FailedPrecondition,
        errors.ResourceExhausted,
        errors.Unavailable,
    ]
    codes = {cls.code for cls in classes}
    assert len(codes) == len(classes)
    for cls in classes:
        error = cls()
        assert isinstance(error, errors.DomainError)
        assert error.message
        assert str(error) == error.message


def test_invalid_argument_names_the_fields() -> None:
    error = errors.InvalidArgument(
        violations=[
            errors.FieldViolation("email", "is not an email address"),
            errors.FieldViolation("password", "is too short"),
        ]
    )
    assert [v.field for v in error.violations] == ["email", "password"]
    assert error.message == "email: is not an email address; password: is too short"
    single = errors.InvalidArgument.for_field("display_name", "is empty")
    assert single.violations == (errors.FieldViolation("display_name", "is empty"),)


def test_details_travel_with_the_errors() -> None:
    assert errors.AlreadyExists(field="email").message == "email is already taken."
    assert errors.NotFound(entity="User", key=42).message == "User 42 not found."
    with pytest.raises(errors.ResourceExhausted) as info:
        raise errors.ResourceExhausted(retry_after=3.5)
    assert info.value.retry_after == 3.5
