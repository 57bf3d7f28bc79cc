"""A fake OpenAI-compatible chat-completions server for tests (LLM agents, skill optimizer).

Binds 127.0.0.1 on an ephemeral port, serves ``POST /v1/chat/completions`` from a thread,
records every request (path, headers, JSON body), and stops itself after ``max_life_s``
whatever happens. Replies come from a script of steps (consumed in order), then from
``responder(body) -> content`` (default: an empty object):

* ``("ok", content)`` — a normal reply with usage;
* ``("status", code, headers)`` — an error reply (e.g. 500, or 429 with Retry-After);
* ``("delay", seconds, content)`` — a normal reply after a delay.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI"]


class FakeOpenAI:
    def __init__(
        self,
        responder: Callable[[dict[str, Any]], str] | None = None,
        *,
        max_life_s: float = 120.0,
    ) -> None:
        self.responder = responder
        self.script: deque[tuple[Any, ...]] = deque()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                with fake._lock:
                    fake.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    step = fake.script.popleft() if fake.script else None
                if step is None:
                    content = fake.responder(body) if fake.responder else "{}"
                    return self._reply(200, fake._completion(body, content))
                if step[0] == "ok":
                    return self._reply(200, fake._completion(body, step[1]))
                if step[0] == "delay":
                    time.sleep(step[1])
                    return self._reply(200, fake._completion(body, step[2]))
                code, headers = step[1], step[2] if len(step) > 2 else {}
                err = {"error": {"message": f"fake error {code}", "type": "server_error"}}
                return self._reply(code, err, headers)

            def _reply(self, code: int, doc: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(doc).encode()
                try:
                    self.send_response(code)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._timer = threading.Timer(max_life_s, self.stop)
        self._timer.daemon = True
        self._stopped = False

    @staticmethod
    def _completion(body: dict[str, Any], content: str) -> dict[str, Any]:
        prompt = sum(len(m.get("content", "")) for m in body.get("messages", []))
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt // 4 + 1,
                "completion_tokens": len(content) // 4 + 1,
                "total_tokens": prompt // 4 + len(content) // 4 + 2,
            },
        }

    def start(self) -> FakeOpenAI:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._timer.cancel()
        self.server.shutdown()
        self.server.server_close()
