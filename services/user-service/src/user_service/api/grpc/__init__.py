"""gRPC servicers: wire <-> domain translation only; the rules live in ``user_service.service``."""
