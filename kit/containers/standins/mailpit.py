#!/usr/bin/python3
"""Stand-in for Mailpit: catch SMTP on 1025 and serve part of Mailpit's API v1 on 8025.

Implemented: ``GET /api/v1/messages``, ``GET /api/v1/search?query=``, ``GET /api/v1/message/{ID}``,
``GET /api/v1/message/{ID}/raw``, ``DELETE /api/v1/messages``, ``GET /readyz`` and ``/livez``,
and ``mailpit readyz`` as a health-check command. Settings: ``MP_MAX_MESSAGES``,
``MP_SMTP_BIND_ADDR`` and ``MP_UI_BIND_ADDR`` as in Mailpit. Messages live in memory.
"""

from __future__ import annotations

import email
import itertools
import json
import os
import signal
import sys
import threading
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from email import policy
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

MAX_MESSAGES = int(os.environ.get("MP_MAX_MESSAGES", "500"))
SMTP_BIND = os.environ.get("MP_SMTP_BIND_ADDR", "0.0.0.0:1025")
UI_BIND = os.environ.get("MP_UI_BIND_ADDR", "0.0.0.0:8025")

_lock = threading.Lock()
_messages: list[dict[str, Any]] = []  # newest first, as Mailpit lists them
_ids = itertools.count(1)


def _addresses(value: str | None) -> list[dict[str, str]]:
    return [
        {"Name": name, "Address": address}
        for name, address in getaddresses([value or ""])
        if address
    ]


def _store(raw: bytes) -> None:
    message = email.message_from_bytes(raw, policy=policy.default)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part is not None else ""
    record = {
        "ID": f"standin-{next(_ids):08d}",
        "MessageID": (message.get("Message-ID") or "").strip("<>"),
        "Read": False,
        "From": (_addresses(message.get("From")) or [{"Name": "", "Address": ""}])[0],
        "To": _addresses(message.get("To")),
        "Cc": _addresses(message.get("Cc")),
        "Bcc": [],
        "ReplyTo": _addresses(message.get("Reply-To")),
        "Subject": message.get("Subject", ""),
        "Created": datetime.now(timezone.utc).isoformat(),
        "Tags": [],
        "Size": len(raw),
        "Attachments": 0,
        "Snippet": " ".join(text.split())[:250],
        "_text": text,
        "_html": html_part.get_content() if html_part is not None else "",
        "_raw": raw,
    }
    with _lock:
        _messages.insert(0, record)
        del _messages[MAX_MESSAGES:]


class _Handler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        _store(envelope.original_content or envelope.content)
        return "250 OK"


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if not key.startswith("_")}


def _matches(record: dict[str, Any], query: str) -> bool:
    for term in query.split():
        field, _, value = term.partition(":")
        value = value.lower()
        if field == "to" and value:
            if not any(value in a["Address"].lower() for a in record["To"] + record["Cc"]):
                return False
        elif field == "from" and value:
            if value not in record["From"]["Address"].lower():
                return False
        elif field == "subject" and value:
            if value not in record["Subject"].lower():
                return False
        elif term.lower() not in (record["Subject"] + record["_text"]).lower():
            return False
    return True


class _Api(BaseHTTPRequestHandler):
    server_version = "mailpit-standin"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the kit's tests poll this API; one line per poll would drown the container log

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode())

    def _listing(self, query: str | None) -> None:
        with _lock:
            found = [m for m in _messages if query is None or _matches(m, query)]
            total = len(_messages)
        self._json(
            {
                "total": total,
                "unread": sum(1 for m in found if not m["Read"]),
                "count": len(found),
                "messages_count": len(found),
                "start": 0,
                "tags": [],
                "messages": [_summary(m) for m in found],
            }
        )

    def _find(self, message_id: str) -> dict[str, Any] | None:
        with _lock:
            if message_id == "latest":
                return _messages[0] if _messages else None
            return next((m for m in _messages if m["ID"] == message_id), None)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if url.path in ("/readyz", "/livez"):
            self._send(200, b"ok\n", "text/plain")
        elif parts == ["api", "v1", "messages"]:
            self._listing(None)
        elif parts == ["api", "v1", "search"]:
            self._listing(urllib.parse.parse_qs(url.query).get("query", [""])[0])
        elif parts[:3] == ["api", "v1", "message"] and len(parts) in (4, 5):
            record = self._find(parts[3])
            if record is None:
                self._send(404, b"message not found\n", "text/plain")
            elif len(parts) == 5 and parts[4] == "raw":
                self._send(200, record["_raw"], "text/plain; charset=utf-8")
            elif len(parts) == 4:
                record["Read"] = True
                self._json(
                    {
                        **_summary(record),
                        "Date": record["Created"],
                        "ReturnPath": record["From"]["Address"],
                        "Text": record["_text"],
                        "HTML": record["_html"],
                        "Inline": [],
                        "Attachments": [],
                    }
                )
            else:
                self._send(404, b"not found\n", "text/plain")
        else:
            self._send(404, b"not found\n", "text/plain")

    def do_DELETE(self) -> None:
        if self.path.split("?")[0] == "/api/v1/messages":
            with _lock:
                _messages.clear()
            self._send(200, b"ok", "text/plain")
        else:
            self._send(404, b"not found\n", "text/plain")


def _host_port(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host or "0.0.0.0", int(port)


def main(argv: list[str]) -> int:
    if argv[:1] == ["readyz"]:
        host, port = _host_port(UI_BIND)
        target = "127.0.0.1" if host in ("0.0.0.0", "") else host
        try:
            with urllib.request.urlopen(f"http://{target}:{port}/readyz", timeout=3) as response:
                return 0 if response.status == 200 else 1
        except OSError:
            return 1
    smtp_host, smtp_port = _host_port(SMTP_BIND)
    controller = Controller(_Handler(), hostname=smtp_host, port=smtp_port)
    controller.start()
    server = ThreadingHTTPServer(_host_port(UI_BIND), _Api)
    # PID 1 in a container ignores SIGTERM unless it handles it: stop at once, like Mailpit
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"mailpit stand-in: SMTP on {SMTP_BIND}, HTTP on {UI_BIND}", flush=True)
    try:
        server.serve_forever()
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
