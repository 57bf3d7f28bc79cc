"""The dashboard's web application: a JSON API over the index and one static page.

Security model (see ``docs/dashboard.md``):

* a request names artefacts only by index id (``kind-<16 hex>``); anything else is 404,
  so no request path ever becomes a file path, and ``..``, absolute paths and their
  percent-encoded forms have nothing to reach;
* the static page (HTML, six scripts, a style sheet) is held in memory and served by
  name from a fixed table;
* every response carries a Content-Security-Policy (scripts, styles and connections from
  this origin only, no inline script, no framing), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``;
* the ``Host`` header must name this server (a DNS-rebinding page cannot read the API);
* every route is a GET except approving an improvement-run request, which exists only
  when the app is made with ``allow_approve=True`` (``labtrust dashboard --allow-approve``)
  and is refused (403) otherwise.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware

from labtrust_gym.dashboard.index import DashboardIndex, Entry
from labtrust_gym.errors import LabTrustError

__all__ = ["create_app", "SECURITY_HEADERS", "STATIC_FILES"]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
#: The page's files: URL name -> (package file, media type).
STATIC_FILES = {
    **{
        f"{n}.js": (f"{n}.js", "text/javascript; charset=utf-8")
        for n in ("core", "runs", "episode", "study", "improve", "app")
    },
    "style.css": ("style.css", "text/css; charset=utf-8"),
}
_ID = re.compile(r"^[a-z]+-[0-9a-f]{16}$")


def _static(name: str) -> bytes:
    return resources.files("labtrust_gym.dashboard").joinpath("static", name).read_bytes()


class _Cache:
    """A small LRU of computed views keyed by (id, file stamp)."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._d: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        val = make()
        with self._lock:
            self._d[key] = val
            while len(self._d) > self.size:
                self._d.popitem(last=False)
        return val


def create_app(
    index: DashboardIndex,
    *,
    allow_approve: bool = False,
    allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    trusted_key: bytes | None = None,
) -> FastAPI:
    """The dashboard app over ``index``; ``trusted_key``: the raw Ed25519 audit public key
    that evidence bundles must be signed with (None: the keys they name, said as SKIP)."""
    from labtrust_gym.dashboard import improve_view
    from labtrust_gym.dashboard.episode import episode_states, episode_view, lab_map
    from labtrust_gym.dashboard.views import bundle_checks, compare_runs, run_detail, study_view

    app = FastAPI(title="LabTrust-Gym dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    cache = _Cache()
    page = _static("index.html")
    files = {n: (_static(f), t) for n, (f, t) in STATIC_FILES.items()}

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers[k] = v
        return response

    @app.exception_handler(LabTrustError)
    async def _lt_error(request: Request, exc: LabTrustError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    def entry(ident: str, kind: str) -> Entry:
        if not _ID.match(ident):
            raise HTTPException(404, f"no {kind} with id {ident[:40]!r}")
        e = index.get(ident, kind)
        if e is None:
            raise HTTPException(404, f"no {kind} with id {ident!r} in the index")
        return e

    def _st(p: Any) -> tuple[Any, ...]:
        # ctime too: a content edit that restores the mtime (touch -r) still changes it
        st = p.stat()
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def stamp(e: Entry) -> tuple[Any, ...]:
        return (e.id, *_st(index.path(e)))

    @app.get("/")
    def _page() -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    @app.get("/favicon.ico")
    def _favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/{name}")
    def _file(name: str) -> Response:
        if name not in files:
            raise HTTPException(404, "no such file")
        body, media = files[name]
        return Response(body, media_type=media)

    @app.get("/api/index")
    def _index() -> dict[str, Any]:
        out: dict[str, list[dict[str, Any]]] = {}
        for e in index.entries():
            out.setdefault(e.kind, []).append({"id": e.id, "rel": e.rel, "meta": e.meta})
        return {"root": index.root.name, "allow_approve": allow_approve, "entries": out}

    @app.get("/api/runs")
    def _runs() -> list[dict[str, Any]]:
        return [{"id": e.id, "rel": e.rel, **e.meta} for e in index.entries("run")]

    @app.get("/api/runs/{ident}")
    def _run(ident: str) -> dict[str, Any]:
        e = entry(ident, "run")
        return cache.get(("run", *stamp(e)), lambda: run_detail(index, e))

    @app.get("/api/compare/{a}/{b}")
    def _compare(a: str, b: str) -> dict[str, Any]:
        return compare_runs(index, entry(a, "run"), entry(b, "run"))

    @app.get("/api/episodes/{ident}")
    def _episode(ident: str) -> dict[str, Any]:
        e = entry(ident, "episode")
        v = cache.get(("episode", *stamp(e)), lambda: episode_view(index.path(e)))
        return {"id": e.id, "rel": e.rel, "run": e.meta.get("run"), **v}

    @app.get("/api/episodes/{ident}/states")
    def _states(ident: str) -> dict[str, Any]:
        e = entry(ident, "episode")
        return cache.get(("states", *stamp(e)), lambda: episode_states(index.path(e)))

    @app.get("/api/labmap")
    def _labmap() -> dict[str, Any]:
        return cache.get(("labmap",), lambda: lab_map())

    def study_stamp(e: Entry) -> tuple[Any, ...]:
        # the manifest and every cell's results and error file: a finished, failed or
        # re-run cell changes the key
        d = index.path(e)
        parts: list[Any] = [e.id]
        for p in [d / "study_manifest.json", *sorted((d / "cells").glob("*/*.json"))]:
            try:
                st = p.stat()
            except OSError:
                continue
            parts.append(
                (p.name, p.parent.name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            )
        return tuple(parts)

    @app.get("/api/studies/{ident}")
    def _study(ident: str) -> dict[str, Any]:
        e = entry(ident, "study")
        return cache.get(("study", *study_stamp(e)), lambda: study_view(index, e))

    def bundle_stamp(e: Entry) -> tuple[Any, ...]:
        # every file and directory of the bundle (an added, removed, renamed or edited
        # file changes the key; ctime is not settable by a user)
        d = index.path(e)
        return (
            e.id,
            _st(d),
            *((p.relative_to(d).as_posix(), *_st(p)) for p in sorted(d.rglob("*"))),
        )

    @app.get("/api/bundles/{ident}")
    def _bundle(ident: str) -> dict[str, Any]:
        e = entry(ident, "bundle")
        return cache.get(("bundle", *bundle_stamp(e)), lambda: bundle_checks(index, e, trusted_key))

    improve_view.add_routes(app, index, entry, allow_approve=allow_approve)
    return app
