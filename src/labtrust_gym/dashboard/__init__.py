"""A web dashboard over runs, studies, episodes, evidence bundles and improvement runs
(``labtrust dashboard``; the ``[dashboard]`` extra: FastAPI and uvicorn).

:class:`DashboardIndex` finds the artefacts under a root and gives each an id;
:func:`create_app` is the FastAPI application (JSON API and a static page);
:func:`serve` and :func:`running_server` run it with uvicorn. Nothing below the CLI
imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["DashboardIndex", "create_app", "serve", "running_server"]

if TYPE_CHECKING:
    from labtrust_gym.dashboard.app import create_app
    from labtrust_gym.dashboard.index import DashboardIndex
    from labtrust_gym.dashboard.server import running_server, serve


def __getattr__(name: str) -> Any:
    # lazy: ``import labtrust_gym.dashboard.index`` must not need FastAPI
    if name == "DashboardIndex":
        from labtrust_gym.dashboard.index import DashboardIndex

        return DashboardIndex
    if name == "create_app":
        from labtrust_gym.dashboard.app import create_app

        return create_app
    if name in ("serve", "running_server"):
        from labtrust_gym.dashboard import server

        return getattr(server, name)
    raise AttributeError(name)
