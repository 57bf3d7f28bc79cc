"""examples/rl_ppo/train.py runs end to end on a tiny budget and writes what docs/rl.md
shows: the learning curve, the held-out table of every controller, the model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rl_ppo" / "train.py"


def test_the_example_trains_evaluates_and_plots(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("rl_ppo_train_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "run"
    args = ["--timesteps", "300", "--n-envs", "2", "--num-cpus", "2", "--curve-every", "1000"]
    assert mod.main([*args, "--curve-episodes", "1", "--held-out", "2", "--out", str(out)]) == 0
    for name in ("model.zip", "curve.csv", "learning_curve.png", "results.json", "results.md"):
        assert (out / name).stat().st_size > 0, name
    doc = json.loads((out / "results.json").read_text())
    arms = doc["held_out"]
    assert set(arms) == {
        "MaskablePPO (deterministic)",
        "MaskablePPO (sampled)",
        "masked random",
        "--controller random",
        "scripted team",
    }
    seeds = doc["seeds"]["held_out"]
    for arm in arms.values():
        assert [e["seed"] for e in arm["episodes"]] == seeds
    assert doc["masked_actions_chosen"] == {
        "MaskablePPO (deterministic)": 0,
        "MaskablePPO (sampled)": 0,
    }
    assert arms["scripted team"]["summary"]["throughput"]["mean"] > 0
    assert arms["--controller random"]["summary"]["throughput"]["mean"] == 0
    assert doc["wall_s"] > 0 and doc["cpu_s"] > 0
    table = (out / "results.md").read_text()
    assert "| scripted team |" in table and "| MaskablePPO (deterministic) |" in table
