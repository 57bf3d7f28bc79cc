"""Running the dashboard: a uvicorn server on a host and port, in this thread or in a
background thread that stops itself (tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labtrust_gym.errors import ConfigError

__all__ = ["serve", "running_server", "LOCAL_HOSTS"]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _app(
    root: Path | str, host: str, port: int, allow_approve: bool, trusted_key: bytes | None = None
) -> object:
    from labtrust_gym.dashboard.app import create_app
    from labtrust_gym.dashboard.index import DashboardIndex

    index = DashboardIndex(root)
    index.refresh(force=True)
    hosts = sorted(
        {"127.0.0.1", "localhost", host, f"{host}:{port}", f"127.0.0.1:{port}", f"localhost:{port}"}
    )
    return create_app(
        index, allow_approve=allow_approve, allowed_hosts=hosts, trusted_key=trusted_key
    )


def serve(
    root: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 8321,
    allow_approve: bool = False,
    trusted_key: bytes | None = None,
) -> None:
    """Serve the dashboard of ``root`` until interrupted."""
    import uvicorn

    app = _app(root, host, port, allow_approve, trusted_key)
    uvicorn.run(app, host=host, port=port, log_level="warning")  # type: ignore[arg-type]


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    root: Path | str,
    *,
    host: str = "127.0.0.1",
    allow_approve: bool = False,
    max_seconds: float = 300.0,
) -> Iterator[str]:
    """A dashboard on ``host`` at an ephemeral port, in a background thread; yields its
    base URL. The server stops when the block ends, and on its own after
    ``max_seconds`` whatever happens to the caller."""
    import uvicorn

    port = _free_port(host)
    app = _app(root, host, port, allow_approve)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, name="labtrust-dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConfigError(f"the dashboard did not start on {host}:{port}")
        time.sleep(0.02)
    timer = threading.Timer(max_seconds, lambda: setattr(server, "should_exit", True))
    timer.daemon = True
    timer.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        timer.cancel()
        server.should_exit = True
        thread.join(timeout=10)
