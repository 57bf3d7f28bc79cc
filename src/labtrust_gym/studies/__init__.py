"""Studies: grids of benchmark cells (task x scale x method x injection) run locally or on
a Dask cluster, resumable, with a per-cell summary, a Pareto view, a leaderboard and
plots.

* :mod:`~labtrust_gym.studies.spec`: the study spec (YAML, schema
  ``policy/schemas/study_spec.v0.1.schema.json``) and its validation;
* :mod:`~labtrust_gym.studies.cells`: grid expansion, cell ids and seeds;
* :mod:`~labtrust_gym.studies.executors`: local process pool, Dask, inline;
* :mod:`~labtrust_gym.studies.runner`: :func:`run_study` (resumable, atomic per cell);
* :mod:`~labtrust_gym.studies.report`: ``summary_coord.csv``, ``pareto.md``, leaderboard;
* :mod:`~labtrust_gym.studies.plots`: PNG figures (the ``[plots]`` extra).
"""

from labtrust_gym.studies.cells import Cell, expand_cells
from labtrust_gym.studies.runner import StudyOutcome, run_study
from labtrust_gym.studies.spec import StudySpec, load_study_spec, parse_study_spec

__all__ = [
    "Cell",
    "StudyOutcome",
    "StudySpec",
    "expand_cells",
    "load_study_spec",
    "parse_study_spec",
    "run_study",
]
