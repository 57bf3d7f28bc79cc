"""``labtrust make-plots --run DIR``: PNG figures of a study (the ``[plots]`` extra).

* ``throughput.png``: throughput per method at each scale, one bar per injection
  condition, with 95% CI bars; the bar of a cell whose injection had no observable effect
  (``injection_effect`` no: every episode identical to its paired nominal one) is hatched;
* ``pareto.png``: per scale, methods by throughput against violations (top) and against
  blocked actions (bottom), the frontier drawn and its methods filled;
* ``resilience_heatmap.png``: per scale, method x injection resilience (throughput under
  the injection / the same method's nominal throughput), values written in the cells,
  "no effect" under the value of a cell whose injection changed nothing.

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg canvas, never
through pyplot, so the caller's backend and global state are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labtrust_gym.errors import ConfigError
from labtrust_gym.outputs import atomic_writer
from labtrust_gym.studies.report import load_study, method_stats, pareto_front
from labtrust_gym.studies.spec import NO_INJECTION

__all__ = ["make_plots", "PLOT_FILES"]

PLOT_FILES = ("throughput.png", "pareto.png", "resilience_heatmap.png")
_THROUGHPUT = "throughput (results released per episode)"


def _mpl() -> Any:
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(
            "make-plots needs matplotlib, which is not installed; install the extra: "
            "pip install 'labtrust-gym[plots]'"
        ) from None
    return matplotlib, Figure


def _title(key: tuple[str, str], tasks: set[str]) -> str:
    return f"scale {key[1]}" if len(tasks) == 1 else f"{key[0]}, scale {key[1]}"


def _ordered(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def make_plots(run_dir: Path | str, out_dir: Path | str | None = None) -> list[Path]:
    """Write the figures of the study in ``run_dir`` (to ``out_dir``, default
    ``run_dir/plots``) and return their paths."""
    matplotlib, figure_cls = _mpl()
    manifest, rows = load_study(run_dir)
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        raise ConfigError(f"{run_dir}: the study has no finished cell to plot yet; run it first")
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    study = manifest.get("study_id", "study")
    with matplotlib.rc_context({"font.size": 9, "axes.titlesize": 10, "figure.dpi": 110}):
        return [
            _throughput(figure_cls, ok, study, out / PLOT_FILES[0]),
            _pareto(figure_cls, ok, study, out / PLOT_FILES[1]),
            _heatmap(figure_cls, matplotlib, ok, study, out / PLOT_FILES[2]),
        ]


def _save(fig: Any, path: Path) -> None:
    with atomic_writer(path) as f:
        fig.savefig(f, format="png")


def _groups(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    return _ordered([(r["task"], r["scale"]) for r in rows])


def _throughput(figure_cls: Any, rows: list[dict[str, Any]], study: str, path: Path) -> Path:
    groups = _groups(rows)
    tasks = {g[0] for g in groups}
    injections = _ordered([r["injection"] for r in rows])
    methods_all = _ordered([r["method"] for r in rows])
    n = len(groups)
    width_in = max(7.5, 0.32 * len(methods_all) * max(1, len(injections)) + 4.5)
    fig = figure_cls(figsize=(width_in, 3.4 * n + 1.2), layout="constrained")
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    bar_w = 0.8 / max(1, len(injections))
    colors = [f"C{i % 10}" for i in range(len(injections))]
    episodes = sorted({r["episodes"] for r in rows})
    any_flat = False
    for ax, key in zip(axes, groups, strict=True):
        grp = [r for r in rows if (r["task"], r["scale"]) == key]
        methods = _ordered([r["method"] for r in grp])
        for j, inj in enumerate(injections):
            xs, ys, lo, hi, flat = [], [], [], [], []
            for i, m in enumerate(methods):
                r = next((r for r in grp if r["method"] == m and r["injection"] == inj), None)
                if r is None or r["throughput_mean"] is None:
                    continue
                flat.append(r.get("injection_effect") == "no")
                xs.append(i - 0.4 + bar_w * (j + 0.5))
                ys.append(r["throughput_mean"])
                has_ci = r["throughput_ci95_low"] is not None
                lo.append(r["throughput_mean"] - r["throughput_ci95_low"] if has_ci else 0.0)
                hi.append(r["throughput_ci95_high"] - r["throughput_mean"] if has_ci else 0.0)
            label = "no injection (nominal)" if inj == NO_INJECTION else inj
            bars = ax.bar(xs, ys, bar_w * 0.95, color=colors[j], label=label)
            for bar, f in zip(bars, flat, strict=True):
                if f:
                    bar.set_hatch("///")
                    bar.set_edgecolor("black")
            any_flat = any_flat or any(flat)
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="black", capsize=2, lw=0.8)
        ax.set_xticks(range(len(methods)), methods)
        ax.set_ylabel(_THROUGHPUT)
        ax.set_xlabel("coordination method")
        ax.set_title(_title(key, tasks))
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if any_flat:
        from matplotlib.patches import Patch

        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///"))
        labels.append("hatched: the injection had no observable effect")
    fig.legend(
        handles,
        labels,
        title="injection",
        loc="outside lower center",
        fontsize=8,
        title_fontsize=8,
        ncols=min(4, max(1, len(labels))),
    )
    fig.suptitle(
        f"{study}: throughput per method (mean and 95% CI over "
        f"{'/'.join(map(str, episodes))} episodes per cell)"
    )
    _save(fig, path)
    return path


def _limits(values: Sequence[float], right: float) -> tuple[float, float]:
    """Axis limits around ``values`` with room for labels (``right``: extra fraction)."""
    lo, hi = min(values), max(values)
    span = max(hi - lo, 0.2 * max(1.0, abs(hi)))
    return lo - 0.12 * span, hi + right * span


def _place_labels(
    ax: Any,
    pts: list[tuple[str, float, float]],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    front: set[str],
) -> None:
    """Label every point (frontier methods in bold); methods at the same spot share one
    label, and labels that would overlap are moved down and joined to their point by a
    thin line."""
    merged: dict[tuple[float, float], list[str]] = {}
    for m, x, y in pts:
        merged.setdefault((round(x, 9), round(y, 9)), []).append(m)
    placed: list[tuple[float, float]] = []
    wx, wy = xlim[1] - xlim[0], ylim[1] - ylim[0]
    for (x, y), names in sorted(merged.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
        fx, fy = (x - xlim[0]) / wx + 0.03, (y - ylim[0]) / wy + 0.02
        while any(abs(fy - py) < 0.055 and abs(fx - px) < 0.45 for px, py in placed):
            fy -= 0.055
        placed.append((fx, fy))
        ax.annotate(
            ", ".join(names),
            (x, y),
            xytext=(fx, fy),
            textcoords="axes fraction",
            fontsize=8,
            va="center",
            arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "grey"},
            fontweight="bold" if front & set(names) else "normal",
        )


def _pareto(figure_cls: Any, rows: list[dict[str, Any]], study: str, path: Path) -> Path:
    stats = method_stats(rows)
    keys = list(stats)
    tasks = {k[0] for k in keys}
    fig = figure_cls(figsize=(max(6.0, 5.2 * len(keys)), 8.5), layout="constrained")
    axes = fig.subplots(2, len(keys), squeeze=False)
    costs = (
        ("violations", "invariant violations per episode (mean)"),
        ("blocked", "blocked actions per episode (mean)"),
    )
    markers = "osD^vP*Xh<>p"
    for col, key in enumerate(keys):
        recs = stats[key]
        for row_i, (cost, xlabel) in enumerate(costs):
            ax = axes[row_i][col]
            pts = [
                (s["method"], s[cost], s["throughput_mean"])
                for s in recs
                if s[cost] is not None and s["throughput_mean"] is not None
            ]
            front = set(pareto_front([(m, y, x) for m, x, y in pts]))
            for i, (m, x, y) in enumerate(pts):
                on = m in front
                ax.scatter(
                    [x],
                    [y],
                    s=55,
                    marker=markers[i % len(markers)],
                    color=f"C{i % 10}",
                    edgecolors="black",
                    linewidths=0.8,
                    alpha=1.0 if on else 0.45,
                    zorder=3,
                )
            fp = sorted((x, y) for m, x, y in pts if m in front)
            if len(fp) > 1:
                ax.plot([p[0] for p in fp], [p[1] for p in fp], "k--", lw=0.8, zorder=2)
            if pts:
                xlim = _limits([p[1] for p in pts], 0.9)
                ylim = _limits([p[2] for p in pts], 0.15)
                ax.set_xlim(*xlim)
                ax.set_ylim(*ylim)
                _place_labels(ax, pts, xlim, ylim, front)
                if all(p[1] == 0 for p in pts):
                    ax.text(
                        0.98,
                        0.97,
                        f"no {cost} in any cell",
                        transform=ax.transAxes,
                        ha="right",
                        va="top",
                        fontsize=8,
                        style="italic",
                    )
            ax.set_xlabel(xlabel)
            ax.set_ylabel(_THROUGHPUT)
            ax.set_title(f"{_title(key, tasks)}: throughput vs {cost}")
            ax.grid(alpha=0.3)
    fig.suptitle(
        f"{study}: Pareto view, each method's means over all its cells at the scale\n"
        "(up and left is better; methods on the frontier in bold, solid markers, dashed line)"
    )
    _save(fig, path)
    return path


def _heatmap(
    figure_cls: Any, matplotlib: Any, rows: list[dict[str, Any]], study: str, path: Path
) -> Path:
    import numpy as np
    from matplotlib.colors import TwoSlopeNorm

    groups = _groups(rows)
    tasks = {g[0] for g in groups}
    injections = [i for i in _ordered([r["injection"] for r in rows]) if i != NO_INJECTION]
    vals = [r["resilience_score"] for r in rows if r["resilience_score"] is not None]
    half = max([0.2, *(abs(v - 1.0) + 0.05 for v in vals)])
    norm = TwoSlopeNorm(vcenter=1.0, vmin=1.0 - half, vmax=1.0 + half)
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="lightgrey")
    n = len(groups)
    n_methods = max(
        len(_ordered([r["method"] for r in rows if (r["task"], r["scale"]) == g])) for g in groups
    )
    fig = figure_cls(
        figsize=(
            max(7.0, 1.6 * max(1, len(injections)) + 3),
            max(3.8, (0.5 * n_methods + 1.6) * n),
        ),
        layout="constrained",
    )
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    image = None
    for ax, key in zip(axes, groups, strict=True):
        grp = [r for r in rows if (r["task"], r["scale"]) == key]
        methods = _ordered([r["method"] for r in grp])
        data = np.full((len(methods), max(1, len(injections))), np.nan)
        flat = np.zeros(data.shape, dtype=bool)
        for i, m in enumerate(methods):
            for j, inj in enumerate(injections):
                r = next((r for r in grp if r["method"] == m and r["injection"] == inj), None)
                if r is not None and r["resilience_score"] is not None:
                    data[i, j] = r["resilience_score"]
                    flat[i, j] = r.get("injection_effect") == "no"
        image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, norm=norm, aspect="auto")
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                v = data[i, j]
                dark = not np.isnan(v) and abs(v - 1.0) > 0.6 * half
                ax.text(
                    j,
                    i,
                    "n/a" if np.isnan(v) else f"{v:.2f}" + ("\nno effect" if flat[i, j] else ""),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
        ax.set_xticks(
            range(len(injections)), injections or ["(no injected cells)"], rotation=15, ha="right"
        )
        ax.set_yticks(range(len(methods)), methods)
        ax.set_xlabel("risk injection")
        ax.set_ylabel("coordination method")
        ax.set_title(_title(key, tasks))
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.9, label="resilience (throughput / nominal)")
    fig.suptitle(
        f"{study}: resilience per method and injection\n"
        "(throughput with the injection / without it, same method; 1.0 = unaffected;\n"
        "'no effect': every episode identical to its paired nominal episode)"
    )
    _save(fig, path)
    return path
