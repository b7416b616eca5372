"""The declared tables of ``make reproduce-tables``: typed declarations read from YAML.

``conf/reproduce/tables.yaml`` holds the profiles and the tables; it is read with
:func:`common.config.to_dataclass` into :class:`Declarations`, so an unknown key or a value of the
wrong type fails with its key path before anything runs. Adding a table is one entry of ``tables``.

A table (:class:`TableSpec`) names

* its ``runs`` (:class:`RunSpec`): an experiment of ``conf/exp``, its overrides and seeds (the
  profile's seeds unless pinned), whether it is an ablation (only in profiles with ablations), and
  where it writes scores (for the histogram figures). An override may name the run directories of
  an earlier run of the same table as ``{runs:<id>}`` (e.g. the trained reward models a benchmark
  run reads), which becomes a Hydra list of those directories, one per seed;
* its ``rows`` (:class:`RowSpec`) and ``columns`` (:class:`ColumnSpec`): a cell's values are read
  from each seed's ``metrics.json`` at a path of keys (``{col}`` stands for the column's key, or
  for its ``keys`` where a column reads a nested value); a path that ends at a list gives one value
  per element (a run that aggregates seeds itself); a column no run reports (a paper-only
  benchmark) shows ``-`` in the reproduced rows;
* the ``paper`` rows shown beside the reproduced ones (:class:`PaperSpec`, a named source of
  published numbers, :mod:`experiments.reproduction.paper`), each labelled as the paper's;
* its ``comparisons`` (:class:`ComparisonSpec`): the difference of a statistic between two of
  its runs on the same items, seed paired with seed, with a paired item bootstrap
  (:func:`common.scoring.paired_difference`), read from the runs' per-item predictions;
* or a ``placeholder``: a slot that is not reproduced yet, rendered as such (no numbers), with the
  experiments it waits for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from common.config import ConfigError, to_dataclass
from common.presets import preset_path

__all__ = [
    "DECLARATIONS",
    "ColumnSpec",
    "ComparisonSpec",
    "Declarations",
    "PaperSpec",
    "PlaceholderSpec",
    "ProfileSpec",
    "RowSpec",
    "RunSpec",
    "ScoreSource",
    "TableSpec",
    "load_declarations",
]

DECLARATIONS = preset_path("reproduce", "tables")
"""The project's declarations (``conf/reproduce/tables.yaml``)."""


@dataclass
class ProfileSpec:
    """How much a profile runs: the seeds of every run that does not pin its own, and whether the
    ablation runs (and the tables that only hold ablations) are included."""

    seeds: list[int]
    ablations: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("a profile needs at least one seed")


@dataclass
class ScoreSource:
    """Where a run writes scores, for its histogram figure: a JSON-lines file (a glob relative to the
    run directory) and the field of each line, or a histogram ``{score: count}`` in metrics.json."""

    title: str
    jsonl: str | None = None
    field: str = "score"
    histogram: list[str] | None = None

    def __post_init__(self) -> None:
        if (self.jsonl is None) == (self.histogram is None):
            raise ValueError(f"score source {self.title!r}: give exactly one of jsonl / histogram")


@dataclass
class RunSpec:
    """One experiment of a table, run once per seed."""

    id: str
    exp: str
    overrides: list[str] = field(default_factory=list)
    seeds: list[int] | None = None
    """Pinned seeds (e.g. ``[0]`` for a deterministic run); ``None``: the profile's seeds."""
    ablation: bool = False
    scores: list[ScoreSource] = field(default_factory=list)
    minutes: float | None = None
    """About how long one seed runs (tiny scale, one thread, measured): the scheduler starts the
    runs that head the longest chains first (:func:`experiments.reproduction.runs.execute_runs`);
    ``None``: counted as one minute."""

    def __post_init__(self) -> None:
        if self.minutes is not None and not self.minutes >= 0:  # NaN too
            raise ValueError(f"run {self.id!r}: minutes must be >= 0, got {self.minutes}")
        for o in self.overrides:
            if o.lstrip("+~").split("=", 1)[0] in ("seed", "exp", "hydra.run.dir"):
                raise ValueError(f"run {self.id!r}: {o!r}: seeds go in `seeds`, the experiment in `exp`")


@dataclass
class ColumnSpec:
    key: str
    label: str
    path: list[str] | None = None
    """Keys into metrics.json for this column (``{col}`` is ``key``); ``None``: the row's path."""
    keys: list[str] | None = None
    """The keys a path part that is exactly ``{col}`` stands for (``None``: ``[key]``), so a column
    reads a nested value below each row's own path (e.g. ``[per_tag, counting]``); ``key`` stays
    the column's name for the paper rows."""


@dataclass
class RowSpec:
    label: str
    run: str
    path: list[str] = field(default_factory=lambda: ["{col}"])
    ci_path: list[str] | None = None
    """The run's own interval ``[lo, hi]`` (e.g. an item bootstrap), shown when there is one value."""
    transform: Literal["none", "share_pct"] = "none"
    """``share_pct``: the path ends at a histogram ``{score: count}`` and the cell is the percentage
    of the column's key (a score) in it."""
    paper: str | None = None
    """The published row shown right below this one (a row name of the table's paper source)."""


@dataclass
class ComparisonSpec:
    """``a - b`` of ``statistic`` on the items both runs scored, mean over the seeds both finished."""

    label: str
    a: str
    """Run id of the first system."""
    b: str
    """Run id of the system subtracted."""
    scores: str
    """The per-item predictions file in each run directory (JSON lines)."""
    scores_b: str | None = None
    """Run ``b``'s file, where it differs (e.g. the same run's starting checkpoint); ``None``: ``scores``."""
    prediction: str = "prediction"
    """The field holding the prediction (``null``: a missing prediction, mean-filled)."""
    where: dict[str, str] = field(default_factory=dict)
    """Only lines whose fields equal these values; select one benchmark's one aspect, as the
    meta-evaluation mean-fills missing predictions per aspect."""
    key: str = "key"
    """The field naming an item, to pair the two runs' lines."""
    human: str = "label"
    """The field holding the human score."""
    statistic: Literal["spearman", "kendall", "pearson"] = "spearman"


@dataclass
class PaperSpec:
    source: str
    """A source of published numbers (:data:`experiments.reproduction.paper.PAPER_SOURCES`)."""
    label: str
    """What the numbers are (paper, table, benchmark, models), shown in the source column."""
    rows: list[str] | None = None
    """Published rows shown after the reproduced ones (``None``: all not already paired)."""


@dataclass
class PlaceholderSpec:
    """A table slot not reproduced yet: rendered as "not yet reproduced", no numbers."""

    reason: str
    requires: list[str] = field(default_factory=list)
    """Experiments (``conf/exp/<name>.yaml``) it waits for; the renderer says which are missing."""


@dataclass
class TableSpec:
    name: str
    title: str
    caption: str = ""
    runs: list[RunSpec] = field(default_factory=list)
    rows: list[RowSpec] = field(default_factory=list)
    columns: list[ColumnSpec] = field(default_factory=list)
    paper: PaperSpec | None = None
    profiles: list[str] | None = None
    """Profiles that build this table (``None``: every profile)."""
    placeholder: PlaceholderSpec | None = None
    comparisons: list[ComparisonSpec] = field(default_factory=list)
    floatfmt: str = ".3f"

    def __post_init__(self) -> None:
        ids = [r.id for r in self.runs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"table {self.name!r}: run ids repeat: {ids}")
        if self.placeholder is None:
            if not self.runs or not self.rows or not self.columns:
                raise ValueError(f"table {self.name!r}: runs, rows and columns are needed (or a placeholder)")
            for row in self.rows:
                if row.run not in ids:
                    raise ValueError(f"table {self.name!r}: row {row.label!r} names unknown run {row.run!r}")
            for c in self.comparisons:
                if c.a == c.b and c.scores_b is None:
                    raise ValueError(
                        f"table {self.name!r}: comparison {c.label!r} compares run {c.a!r} with itself; "
                        "name another run as b, or its other predictions file as scores_b"
                    )
                for run_id in (c.a, c.b):
                    if run_id not in ids:
                        raise ValueError(
                            f"table {self.name!r}: comparison {c.label!r} names unknown run {run_id!r}"
                        )
        elif self.runs or self.rows or self.comparisons:
            raise ValueError(f"table {self.name!r}: a placeholder has no runs, rows or comparisons")

    def run(self, run_id: str) -> RunSpec:
        return next(r for r in self.runs if r.id == run_id)


@dataclass
class Declarations:
    profiles: dict[str, ProfileSpec]
    tables: list[TableSpec]

    def __post_init__(self) -> None:
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError(f"table names repeat: {names}")
        for t in self.tables:
            for p in t.profiles or ():
                if p not in self.profiles:
                    raise ValueError(
                        f"table {t.name!r}: unknown profile {p!r} (known: {sorted(self.profiles)})"
                    )

    def table(self, name: str) -> TableSpec:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"no table {name!r}; tables: {', '.join(t.name for t in self.tables)}")

    def in_profile(self, table: TableSpec, profile: str) -> bool:
        return table.profiles is None or profile in table.profiles


def load_declarations(path: str | Path = DECLARATIONS) -> Declarations:
    """Read and check the declarations (:class:`ConfigError` names the key path of a bad value)."""
    path = Path(path)
    try:
        data: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    try:
        return to_dataclass(Declarations, data, "reproduce")
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from None
