"""The user-service client reads protobuf timestamps exactly as protobuf's ``ToDatetime`` does."""

from __future__ import annotations

from datetime import timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from gateway_graphql.remote.user_service import _time


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [
        (0, 0),
        (-1, 0),
        (-1, 500_000_000),
        (1_764_787_200, 123_456_789),
        (1_764_787_200, 999_999_999),
        (-62135596800, 0),
        (253402300799, 999_999_999),
    ],
)
def test_timestamps_read_as_protobuf_reads_them(seconds: int, nanos: int) -> None:
    stamp = Timestamp(seconds=seconds, nanos=nanos)
    read = _time(stamp)
    assert read == stamp.ToDatetime(tzinfo=timezone.utc)
    assert read.tzinfo is timezone.utc


@pytest.mark.parametrize(("seconds", "nanos"), [(0, -1), (0, 1_000_000_000), (-62135596801, 0)])
def test_invalid_timestamps_are_refused_as_protobuf_refuses_them(seconds: int, nanos: int) -> None:
    with pytest.raises(ValueError, match="Timestamp is not valid"):
        _time(Timestamp(seconds=seconds, nanos=nanos))
