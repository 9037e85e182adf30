"""Checks every RPC of a servicer applies to its request before the method runs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from alvin_python_lib.errors import FieldViolation, InvalidArgument

T = TypeVar("T")
NUL = "\x00"


def nul_violations(message: Message, prefix: str = "") -> list[FieldViolation]:
    """A violation for each string field (nested ones too) that holds a NUL character."""
    violations: list[FieldViolation] = []
    for field, value in message.ListFields():
        name = f"{prefix}{field.name}"
        items = value if field.is_repeated else [value]
        if field.type == FieldDescriptor.TYPE_STRING:
            if any(NUL in item for item in items):
                violations.append(FieldViolation(name, "must not contain NUL characters"))
        elif (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and field.message_type is not None
            and not field.message_type.GetOptions().map_entry  # no maps in these APIs
        ):
            for item in items:
                violations += nul_violations(item, f"{name}.")
    return violations


def _has_strings(message_type: Descriptor, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a message of this type can hold a string, in itself or in a nested message."""
    if message_type.full_name in seen:
        return False
    seen = seen | {message_type.full_name}
    return any(
        field.type == FieldDescriptor.TYPE_STRING
        or (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and field.message_type is not None
            and _has_strings(field.message_type, seen)
        )
        for field in message_type.fields
    )


def refuse_nul_characters(service: ServiceDescriptor) -> Callable[[type[T]], type[T]]:
    """Class decorator: every RPC of ``service`` refuses NUL characters in its request's strings
    (INVALID_ARGUMENT). PostgreSQL text cannot store them, and no legitimate input has one."""

    def decorate(cls: type[T]) -> type[T]:
        for method in service.methods:
            if not _has_strings(method.input_type):
                continue  # ids and numbers only (GetUser, BatchGetUsers): nothing to walk
            original = getattr(cls, method.name)

            @functools.wraps(original)
            def checked(
                self: Any, request: Message, context: Any, _original: Any = original
            ) -> Any:
                violations = nul_violations(request)
                if violations:
                    raise InvalidArgument(violations=violations)
                return _original(self, request, context)

            setattr(cls, method.name, checked)
        return cls

    return decorate
