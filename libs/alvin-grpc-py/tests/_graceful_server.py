"""A server for the graceful shutdown test: prints its port, then serves until SIGTERM.

Settings come from the environment (GRPC_GRACE_PERIOD_S, GRPC_DRAIN_DELAY_S); the Slow method
prints SLOW-STARTED when it begins so that the test knows the call is in flight.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from grpc_test_service import Handlers

from alvin_grpc.server import ServerSettings, build_server, serve_forever
from alvin_python_lib.logging import configure_logging


class AnnouncingHandlers(Handlers):
    def slow(self, request: Any, context: Any) -> Any:
        print("SLOW-STARTED", flush=True)
        return super().slow(request, context)


def main() -> int:
    configure_logging(fmt="json", stream=sys.stdout, service="graceful-test")
    settings = ServerSettings(grpc_host="127.0.0.1", grpc_port=0)
    server = build_server([AnnouncingHandlers().registration()], settings)
    print(f"PORT {server.port}", flush=True)
    return serve_forever(server)


if __name__ == "__main__":
    raise SystemExit(main())
