"""The entry-point scan kept in the compiled-policy cache is the scan importlib.metadata
gives, and installing, removing or editing a distribution makes it scan again."""

from __future__ import annotations

import os
import time
from pathlib import Path

from _dists import install, write_dist

from labtrust_gym import plugins


def _fresh() -> dict[str, list[tuple[str, ...]]]:
    eps, _ = plugins._scan_installed()
    out: dict[str, list[tuple[str, ...]]] = {g: [] for g in plugins.ENTRY_POINT_GROUPS}
    for e in eps:
        out[e.group].append(tuple(e))
    return out


def _cached() -> dict[str, list[tuple[str, ...]]]:
    return {g: [tuple(e) for e in eps] for g, eps in plugins._scan().items()}


def _bump(path: Path) -> None:
    """Make a modification visible even on a coarse-grained clock."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))


def test_cached_scan_equals_a_fresh_scan_and_follows_changes(
    sites: list[Path], tmp_path: Path
) -> None:
    site = write_dist(
        tmp_path / "site",
        "cache-lab",
        "1.0",
        {"labtrust_gym.tasks": {"cached_task": "cache_lab.m:T"}},
        {"cache_lab/__init__.py": "", "cache_lab/m.py": "T = 1\n"},
    )
    install(sites, site)
    first = _cached()
    assert first == _fresh()
    assert ("labtrust_gym.tasks", "cached_task", "cache_lab.m:T", "cache-lab", "1.0") in first[
        "labtrust_gym.tasks"
    ]
    assert _cached() == first  # from the cache

    # Editing the entry points in place (no new file in the site directory).
    info = next(site.glob("*.dist-info"))
    ep_file = info / "entry_points.txt"
    ep_file.write_text(ep_file.read_text().replace("cached_task", "renamed_task"))
    _bump(ep_file)
    time.sleep(0.01)
    names = {e[1] for e in _cached()["labtrust_gym.tasks"]}
    assert "renamed_task" in names and "cached_task" not in names

    # Installing another distribution into the same directory.
    write_dist(
        site,
        "other-lab",
        "2.0",
        {"labtrust_gym.tasks": {"other_task": "other_lab.m:T"}},
        {"other_lab/__init__.py": "", "other_lab/m.py": "T = 1\n"},
    )
    _bump(site)
    assert "other_task" in {e[1] for e in _cached()["labtrust_gym.tasks"]}
    assert _cached() == _fresh()


def test_files_written_next_to_the_distributions_do_not_void_the_cache(
    sites: list[Path], tmp_path: Path
) -> None:
    """A run's outputs in the working directory (on ``sys.path`` with ``python -m``) left
    the cache key unchanged: only distributions count."""
    site = write_dist(
        tmp_path / "site",
        "quiet-lab",
        "1.0",
        {"labtrust_gym.tasks": {"quiet_task": "quiet_lab.m:T"}},
        {"quiet_lab/__init__.py": "", "quiet_lab/m.py": "T = 1\n"},
    )
    install(sites, site)
    before = plugins._dist_signature(str(site))
    (site / "results.json").write_text("{}")
    _bump(site)
    assert plugins._dist_signature(str(site)) == before
    info = next(site.glob("*.dist-info"))
    _bump(info)
    assert plugins._dist_signature(str(site)) != before
    assert plugins._dist_signature(str(tmp_path / "missing")) == "-"
