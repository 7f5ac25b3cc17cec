"""A fake Messages API for the simulated internet (stdlib only; never the real API).

``python fake_anthropic.py CONFIG.json`` serves HTTPS on ``listen:port`` with the given
certificate. ``POST /v1/messages`` checks the credential (an ``x-api-key`` from ``keys``, or
an OAuth-style bearer starting ``sk-ant-oat``), answers whole or streamed (server-sent events
with usage, as the real API sends them) and can answer errors (model ``fake-error-NNN``).
``POST /v1/messages/count_tokens`` answers a count. Every request is appended to ``log`` as a
JSON line: path, credential seen, caller's address, model, stream, the token counts it
answered and its status. It prints ``ready`` once bound and runs until killed.
"""

from __future__ import annotations

import http.server
import json
import socketserver
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPLY = "Hello from the fake API."
_log_lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic"
    config: dict[str, Any] = {}

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        key = self.headers.get("x-api-key", "")
        bearer = self.headers.get("authorization", "")
        entry: dict[str, Any] = {
            "path": path,
            "x_api_key": key,
            "authorization": bearer,
            "peer": self.client_address[0],
        }
        credential_ok = key in self.config["keys"] or bearer.startswith("Bearer sk-ant-oat")
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        model = str(request.get("model", ""))
        entry.update(model=model, stream=bool(request.get("stream")))
        if not credential_ok:
            self._error(401, "authentication_error", "invalid x-api-key", entry)
        elif path == "/v1/messages/count_tokens":
            self._json(200, {"input_tokens": 10 + len(body) // 100}, entry)
        elif path != "/v1/messages":
            self._error(404, "not_found_error", f"{path} not found", entry)
        elif model.startswith("fake-error-") and model[11:].isdigit():
            self._error(int(model[11:]), "api_error", "the fake was told to fail", entry)
        else:
            usage = {
                "input_tokens": 10 + len(body) // 100,
                "cache_creation_input_tokens": 3,
                "cache_read_input_tokens": 5,
                "output_tokens": 7 + len(request.get("messages", [])),
            }
            entry["usage"] = usage
            if request.get("stream"):
                self._stream(model, usage, entry)
            else:
                message = _message(model, usage)
                message["content"] = [{"type": "text", "text": REPLY}]
                message["stop_reason"] = "end_turn"
                self._json(200, message, entry)

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _error(self, status: int, kind: str, message: str, entry: dict[str, Any]) -> None:
        self._json(status, {"type": "error", "error": {"type": kind, "message": message}}, entry)

    def _json(self, status: int, body: dict[str, Any], entry: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        _log(self.config["log"], {**entry, "status": status})  # before the caller can look
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, model: str, usage: dict[str, int], entry: dict[str, Any]) -> None:
        _log(self.config["log"], {**entry, "status": 200})
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        start_usage = {**usage, "output_tokens": 1}
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": _message(model, start_usage)}),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            ("ping", {"type": "ping"}),
        ]
        for word in REPLY.split(" "):
            delta = {"type": "text_delta", "text": word + " "}
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            )
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        delay = float(self.config.get("event_delay_s", 0.0))
        for name, data in events:
            chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
            if delay:
                time.sleep(delay)
        self.wfile.write(b"0\r\n\r\n")


def _message(model: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": "msg_fake0001",
        "type": "message",
        "role": "assistant",
        "model": model or "claude-fake",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }


def _log(path: str, entry: dict[str, Any]) -> None:
    with _log_lock, open(path, "a") as out:
        out.write(json.dumps(entry) + "\n")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    Handler.config = config
    server = Server((config["listen"], config["port"]), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(config["cert"], config["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
