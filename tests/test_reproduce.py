"""``python -m experiments.reproduce`` (``make reproduce-tables``): declarations, planning and reuse,
rendering, failure isolation and placeholders; the end-to-end quick profile of the TIFA table is
marked ``slow``."""

from __future__ import annotations

import csv
import io
import json
import math
import signal
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from common.config import ConfigError, to_dataclass
from experiments.reproduce import main, select_tables
from experiments.reproduction.render import NOT_YET_REPRODUCED, build_table, placeholder_table, write_table
from experiments.reproduction.runs import KEY_FILE, plan_runs, run_key
from experiments.reproduction.spec import RunSpec, TableSpec, load_declarations

CONF = Path(__file__).resolve().parents[1] / "conf"
EXPERIMENTS = {p.stem for p in (CONF / "exp").glob("*.yaml")}


def fake_completed(run_dir: Path, key: str, metrics: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / KEY_FILE).write_text(json.dumps({"key": key}))
    (run_dir / "run.json").write_text(json.dumps({"status": "completed"}))
    (run_dir / "metrics.json").write_text(json.dumps(metrics))


def test_declarations_load_and_every_run_composes(tmp_path: Path) -> None:
    decl = load_declarations()
    assert set(decl.profiles) == {"quick", "full"}
    assert decl.profiles["quick"].seeds == [0] and not decl.profiles["quick"].ablations
    assert len(decl.profiles["full"].seeds) == 3 and decl.profiles["full"].ablations
    names = {t.name for t in decl.tables}
    assert {"tifa_meta_eval", "t2ieval_r1_main", "t2ieval_r1_reward_ablation", "firm_bench"} <= names
    assert {"firm_curated_stats", "firm_rl_table3", "firm_rl_table4", "firm_rl_table5"} <= names
    for table in decl.tables:
        for run in table.runs:
            assert run.exp in EXPERIMENTS, f"{table.name}: conf/exp/{run.exp}.yaml does not exist"
    # every run of every profile composes (Hydra's compose API, as python -m experiments.run does)
    for profile in decl.profiles:
        tables = select_tables(decl, profile, None)
        runs, per_table = plan_runs(decl, [t for t in tables if t.placeholder is None], profile, tmp_path)
        assert runs and all(r.status == "run" for r in runs)
        assert len({r.key for r in runs}) == len(runs)
        bench = per_table[("firm_bench", "bench")][0]
        rms = per_table[("firm_bench", "edit_rm")]
        assert all(str(r.run_dir) in " ".join(bench.overrides) for r in rms)
        assert bench.depends
    quick = {r.exp for r in plan_runs(decl, select_tables(decl, "quick", None), "quick", tmp_path)[0]}
    assert "t2ieval_r1_grpo_discrete" not in quick  # an ablation: full profile only
    assert "t2ieval_r1_reward_ablation" not in {t.name for t in select_tables(decl, "quick", None)}
    # the FIRM RL tables are real tables now: the main rows in quick, the controls and ablations in full
    assert not any(t.placeholder for t in decl.tables if t.name.startswith("firm_rl_"))
    assert {"firm_edit_rl", "firm_edit_rl_base_critic", "firm_gen_rl", "firm_gen_rl_base_critic"} <= quick
    assert not {e for e in quick if e.endswith(("_oracle", "_linear_equal", "_quality_sum", "_flowgrpo"))}
    assert "firm_rl_table5" not in {t.name for t in select_tables(decl, "quick", None)}
    full = {r.exp for r in plan_runs(decl, select_tables(decl, "full", None), "full", tmp_path)[0]}
    assert {e for e in EXPERIMENTS if e.startswith(("firm_gen_rl", "firm_edit_rl"))} <= full


def test_a_bad_declaration_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "tables.yaml"
    path.write_text(yaml.safe_dump({"profiles": {"quick": {"seeds": [0], "colour": 1}}, "tables": []}))
    with pytest.raises(ConfigError, match="colour"):
        load_declarations(path)


def test_dry_run_lists_runs_and_reports_reuse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    decl = load_declarations()
    tables = select_tables(decl, "quick", ["tifa_meta_eval", "firm_curated_stats"])
    runs, _ = plan_runs(decl, tables, "quick", tmp_path)
    by_exp = {r.exp: r for r in runs}
    fake_completed(by_exp["tifa_meta_eval"].run_dir, by_exp["tifa_meta_eval"].key, {})
    stale = by_exp["firm_gen_curate"]  # a directory of another config (or an unfinished run): not reused
    fake_completed(stale.run_dir, "000000000000", {})

    code = main(["--dry-run", "--results", str(tmp_path), "--only", "tifa_meta_eval", "firm_curated_stats"])
    out = capsys.readouterr().out
    assert code == 0
    assert "3 runs, 1 reused, 2 to run" in out
    lines = {ln.split()[1]: ln.split()[0] for ln in out.splitlines() if ln.startswith("  ")}
    assert lines == {"tifa_meta_eval": "reuse", "firm_edit_curate": "run", "firm_gen_curate": "run"}
    assert not by_exp["firm_edit_curate"].run_dir.exists()  # nothing ran
    assert not (tmp_path / "tables").exists()


def test_only_a_table_outside_the_profile_is_refused(tmp_path: Path) -> None:
    assert main(["--dry-run", "--results", str(tmp_path), "--only", "t2ieval_r1_reward_ablation"]) == 2
    assert main(["--dry-run", "--results", str(tmp_path), "--only", "no_such_table"]) == 2


FIXTURE_TABLE = {
    "name": "bench_fixture",
    "title": "FIRM-Bench fixture",
    "caption": "Fixture.",
    "runs": [{"id": "a", "exp": "hello"}, {"id": "b", "exp": "hello"}],
    "columns": [{"key": "Edit exec", "label": "Edit exec"}, {"key": "Gen easy", "label": "Gen easy"}],
    "rows": [
        {"label": "per-seed runs", "run": "a", "path": ["res", "{col}"], "paper": "Qwen3-VL-8B"},
        {"label": "seeds inside one run", "run": "b", "path": ["res", "{col}", "per_seed"]},
    ],
    "paper": {"source": "firm_bench", "label": "FIRM, real FIRM-Bench", "rows": ["GPT-5"]},
}


def test_rendering_writes_md_csv_tex_with_paper_rows_and_intervals(tmp_path: Path) -> None:
    table = to_dataclass(TableSpec, FIXTURE_TABLE)
    seeds = [{"res": {"Edit exec": v, "Gen easy": None}} for v in (0.5, 0.7, 0.6)]
    inside = [{"res": {"Edit exec": {"per_seed": [1.0, 1.2]}, "Gen easy": {"per_seed": [2.0, 2.0]}}}]
    rendered = build_table(
        table, {"a": seeds, "b": inside}, {}, source_label=lambda run, cells: f"this repo, tiny, run {run}"
    )
    paths = write_table(rendered, tmp_path)
    assert sorted(p.name for p in paths) == ["bench_fixture.csv", "bench_fixture.md", "bench_fixture.tex"]
    md = (tmp_path / "bench_fixture.md").read_text()
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t_{0.975, 2} * s / sqrt(n)
    assert f"0.600 ± {half:.3f}" in md
    assert "1.100 ± " in md and "2.000 ± 0.000" in md
    assert "Qwen3-VL-8B (paper)" in md and "GPT-5 (paper)" in md and "Gemini" not in md
    assert "paper: FIRM, real FIRM-Bench" in md and "this repo, tiny, run a" in md
    lines = md.splitlines()
    assert lines.index(next(ln for ln in lines if "per-seed runs" in ln)) + 1 == lines.index(
        next(ln for ln in lines if "Qwen3-VL-8B (paper)" in ln)
    )  # the paired published row is right below its reproduced row
    assert "| -" in md or " - " in md  # Gen easy of the per-seed runs: null in every seed
    rows = list(csv.DictReader(io.StringIO((tmp_path / "bench_fixture.csv").read_text())))
    cell = next(r for r in rows if r["row"] == "per-seed runs" and r["column"] == "Edit exec")
    assert float(cell["mean"]) == pytest.approx(0.6)
    assert float(cell["ci_high"]) - float(cell["ci_low"]) == pytest.approx(2 * half)
    assert cell["n"] == "3" and cell["ci_kind"] == "t95 over seeds"
    assert any(r["status"] == "published" and r["mean"] == "0.66" for r in rows)
    tex = (tmp_path / "bench_fixture.tex").read_text()
    assert r"\begin{tabular}" in tex and r"$\pm$" in tex and r"\caption{FIRM-Bench fixture. Fixture." in tex


def test_placeholders_render_as_not_yet_reproduced(tmp_path: Path) -> None:
    slot = {
        "name": "slot_fixture",
        "title": "A slot",
        "placeholder": {"reason": "Slot X", "requires": ["no_such_exp"]},
    }
    table = to_dataclass(TableSpec, slot)
    assert table.placeholder is not None and not table.runs
    rendered = placeholder_table(table, table.placeholder, sorted(EXPERIMENTS))
    write_table(rendered, tmp_path)
    for suffix in ("md", "csv", "tex"):
        text = (tmp_path / f"slot_fixture.{suffix}").read_text()
        assert NOT_YET_REPRODUCED in text
        assert "no_such_exp".replace("_", r"\_" if suffix == "tex" else "_") in text
    assert (
        "Slot X: not yet reproduced (experiment no_such_exp missing)"
        in (tmp_path / "slot_fixture.md").read_text()
    )
    # once the experiment exists, the slot says so instead of "missing"
    rendered = placeholder_table(table, table.placeholder, ["no_such_exp"])  # type: ignore[arg-type]
    assert "missing" not in rendered.markdown() and NOT_YET_REPRODUCED in rendered.markdown()


def test_a_failed_run_does_not_stop_the_others_and_rerun_reuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real runs of +exp=hello: one with a parameter its task does not take (it fails), one per seed
    that succeeds. The failure is reported, the others run, the table shows both, the exit code is 1;
    a second call reuses the finished runs."""
    tables = {
        "profiles": {"quick": {"seeds": [0, 1]}},
        "tables": [
            {
                "name": "hello_table",
                "title": "hello",
                "runs": [
                    {"id": "bad", "exp": "hello", "overrides": ["+task.no_such_parameter=1"], "seeds": [0]},
                    {"id": "good", "exp": "hello", "overrides": ["task.message=hi"]},
                ],
                "columns": [{"key": "seed", "label": "seed"}],
                "rows": [{"label": "bad", "run": "bad"}, {"label": "good", "run": "good"}],
            }
        ],
    }
    path = tmp_path / "tables.yaml"
    path.write_text(yaml.safe_dump(tables))
    results = tmp_path / "results"
    args = ["--tables-file", str(path), "--results", str(results)]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "1 run(s) did not complete" in captured.err and "no_such_parameter" in captured.err
    md = (results / "tables" / "hello_table.md").read_text()
    assert "| bad " in md and "failed" in md
    assert "0.500 ± 6.353" in md  # seeds 0 and 1: mean 0.5, t_{0.975,1} * 0.7071 / sqrt(2)
    summary = json.loads((results / "reproduce.json").read_text())
    assert sorted(r["status"] for r in summary["runs"]) == ["completed", "completed", "failed"]
    assert any((results / "figures" / "curves").glob("hello-seed1-*.png"))
    assert (results / "tables" / "hello_table.csv").is_file() and (
        results / "tables" / "hello_table.tex"
    ).is_file()

    for run in summary["runs"]:  # the config a run wrote hashes to the key its directory is named by
        assert run_key(OmegaConf.load(Path(run["run_dir"]) / "config.yaml")) == Path(run["run_dir"]).name

    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 runs, 2 reused, 1 to run" in out


@pytest.mark.slow
def test_quick_profile_of_the_tifa_table_end_to_end(tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert main(["--only", "tifa_meta_eval", "--results", str(results)]) == 0
    md = (results / "tables" / "tifa_meta_eval.md").read_text()
    assert "TIFA (mPLUG-large)" in md and "0.592 [0.536, 0.634]" in md  # Spearman, bootstrap interval
    assert "TIFA (mPLUG-large) (paper)" in md  # the TIFA authors' published row under it
    assert (results / "tables" / "tifa_meta_eval.csv").is_file()
    assert (results / "tables" / "tifa_meta_eval.tex").is_file()
    assert main(["--only", "tifa_meta_eval", "--results", str(results), "--dry-run"]) == 0


def test_tifa_table_shows_the_authors_published_correlations_under_each_metric(tmp_path: Path) -> None:
    """Each metric row of ``tifa_meta_eval`` is followed by the TIFA authors' published row
    (docs/papers/tifa.md §3): Pearson and Kendall tau-b published, Spearman and pair accuracy not;
    the inter-rater row has none."""
    from experiments.reproduction.paper import TIFA_ROW_LABELS
    from t2ieval_r1.benchmarks.tifa import PUBLISHED_TIFA_CORRELATIONS, TIFA_METRICS

    table = load_declarations().table("tifa_meta_eval")
    row = {"pearson": 0.5, "pearson_ci": [0.4, 0.6], "spearman": 0.5, "kendall": 0.4, "pairwise_acc": 0.7}
    metrics = {name: dict(row) for name in [*TIFA_METRICS, "human_inter_rater"]}
    out = build_table(table, {"tifa": [metrics]}, {}, source_label=lambda run, cells: "ours")
    write_table(out, tmp_path)
    labels = [TIFA_ROW_LABELS[m] for m in TIFA_METRICS]
    expected = [row for label in labels for row in (label, f"{label} (paper)")]
    assert [r[0] for r in out.rows] == [*expected, "human inter-rater"]
    cells = _csv_cells(out)
    for m in TIFA_METRICS:
        paper = f"{TIFA_ROW_LABELS[m]} (paper)"
        for column, stat in (("Pearson", "pearson"), ("Kendall tau-b", "kendall")):
            assert cells[(paper, column)]["status"] == "published"
            assert float(cells[(paper, column)]["mean"]) == PUBLISHED_TIFA_CORRELATIONS[m][stat]
        assert cells[(paper, "Spearman rho")]["status"] == "missing"
        assert cells[(paper, "pair acc")]["status"] == "missing"
        assert cells[(paper, "Pearson")]["source"].startswith("paper: TIFA (arXiv 2303.11897)")
    md = (tmp_path / "tifa_meta_eval.md").read_text()
    mplug = next(ln for ln in md.splitlines() if "TIFA (mPLUG-large) (paper)" in ln)
    assert [c.strip() for c in mplug.strip("|").split("|")][2:] == ["0.597", "-", "0.472", "-"]
    assert "docs/papers/tifa.md" in md and "not recorded" not in md


def test_tifa_published_numbers_are_the_documents() -> None:
    """t2ieval_r1.benchmarks.tifa.PUBLISHED_TIFA_CORRELATIONS holds docs/papers/tifa.md §3's table."""
    from t2ieval_r1.benchmarks.tifa import PUBLISHED_TIFA_CORRELATIONS

    doc = (CONF.parent / "docs" / "papers" / "tifa.md").read_text()
    section = doc[doc.index("## 3.") : doc.index("## 4.")]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ]
    assert rows[0][0] == "metric"
    documented = {name: {"pearson": float(p), "kendall": float(k)} for name, p, k in rows[1:]}
    assert list(documented) == list(PUBLISHED_TIFA_CORRELATIONS)
    assert documented == PUBLISHED_TIFA_CORRELATIONS


# ------------------------------------------------------------------------------- FIRM RL tables


def _rl_records(kind: str, rate: float, *, lazy: bool = False) -> list[dict]:
    """Held-out records in the shape firm.rl.evaluate scores them: 4 items per tag (op) x 2 noise
    seeds, the headline true for about ``rate`` of the pairs."""
    from common.world.vocab import GENEVAL_TAGS

    tags = GENEVAL_TAGS if kind == "gen" else ("add", "remove", "recolor")
    out = []
    for t, tag in enumerate(tags):
        for i in range(4):
            for s in (0, 1):
                hit = ((t + 3 * i + s) % 8) < 8 * rate
                base = {
                    "kind": kind,
                    "tag": tag,
                    "item": f"{tag}{i}",
                    "pair": f"{tag}{i}:{s}",
                    "prompt": f"p {tag}{i}",
                }
                if kind == "gen":
                    base |= {
                        "strict": hit,
                        "correct": hit or s == 0,
                        "requirement_share": 0.5 + 0.5 * hit,
                        "color_presence": None,
                        "n_objects": 1,
                        "chance_strict": False,
                        "chance_correct": False,
                    }
                else:
                    execution = hit and not lazy
                    base |= {
                        "execution": execution,
                        "consistency": True if lazy else hit or s == 1,
                        "correct": execution and (hit or s == 1),
                        "lazy": lazy,
                        "kept_share": 1.0,
                        "edit_change": 0.0 if lazy else float(hit),
                    }
                out.append(base)
    return out


def _rl_metrics(kind: str, start: float, end: float, *, lazy: bool = False) -> dict:
    """A metrics.json of firm.tasks.rl (its ``heldout`` part) from fake records."""
    from firm.rl.eval_stats import paired_gain, summarize

    before, after = _rl_records(kind, start), _rl_records(kind, end, lazy=lazy)
    columns = (
        ("strict", "correct", "requirement_share")
        if kind == "gen"
        else ("execution", "consistency", "correct", "lazy")
    )
    return {
        "kind": kind,
        "heldout": {
            "start": summarize(before),
            "end": summarize(after),
            "gains": {c: paired_gain(before, after, c, n_resamples=50) for c in columns},
            "n_pairs": len(before),
        },
    }


def _csv_cells(rendered) -> dict[tuple[str, str], dict[str, str]]:  # type: ignore[no-untyped-def]
    return {(r["row"], r["column"]): r for r in csv.DictReader(io.StringIO(rendered.csv()))}


def test_firm_rl_tables_render_from_the_rl_tasks_metrics(tmp_path: Path) -> None:
    """Tables 3/4/5 read firm.tasks.rl's metrics.json (heldout.start / end / gains, as
    firm.rl.eval_stats.summarize and paired_gain write them), with the paper's rows beside."""
    decl = load_declarations()

    def render(name: str, metrics: dict[str, dict]):  # type: ignore[no-untyped-def]
        table = decl.table(name)
        assert {r.id for r in table.runs} == set(metrics), name
        out = build_table(
            table, {k: [v] for k, v in metrics.items()}, {}, source_label=lambda run, cells: "ours"
        )
        write_table(out, tmp_path)
        return out, _csv_cells(out), (tmp_path / f"{name}.md").read_text()

    # Table 3 (editing)
    cme = _rl_metrics("edit", 0.25, 0.75)
    edit = {
        "cme": cme,
        "base_critic": _rl_metrics("edit", 0.25, 0.5),
        "oracle": _rl_metrics("edit", 0.25, 1.0),
    }
    out, cells, md = render("firm_rl_table3", edit)
    labels = [r[0] for r in out.rows]
    assert labels[:2] == ["start policy", "Qwen-Image-Edit-2509 (start) (paper)"]
    assert labels[-1] == "RL, Qwen3-VL-32B critic (paper)" and "RL, oracle critic + CME (control)" in labels
    assert float(cells[("start policy", "execution / GEdit G_SC")]["mean"]) == pytest.approx(
        cme["heldout"]["start"]["execution"]
    )
    assert float(cells[("RL, FIRM-Edit RM + CME", "lazy rate")]["mean"]) == cme["heldout"]["end"]["lazy"]
    assert float(cells[("RL, FIRM-Edit RM + CME", "correct / GEdit G_O")]["mean"]) == pytest.approx(
        cme["heldout"]["end"]["correct"]
    )
    paper = cells[("FIRM-Qwen-Edit (FIRM-Edit-8B + CME) (paper)", "execution / GEdit G_SC")]
    assert paper["mean"] == "8.25" and paper["status"] == "published"
    assert cells[("RL, Qwen3-VL-8B critic (paper)", "ImgEdit (paper)")]["mean"] == "4.36"
    assert cells[("RL, Qwen3-VL-8B critic (paper)", "lazy rate")]["status"] == "missing"  # no paper analog
    assert cells[("RL, base-VLM critic", "GEdit G_PQ (paper)")]["status"] == "missing"  # paper-only column
    assert "32 px" in md and "512 px" in md and "(paper)" in md

    # Table 4 (generation): strict overall and per tag
    qma = _rl_metrics("gen", 0.25, 0.75)
    gen = {"qma": qma, "base_critic": _rl_metrics("gen", 0.25, 0.5), "oracle": _rl_metrics("gen", 0.25, 1.0)}
    out, cells, md = render("firm_rl_table4", gen)
    end = qma["heldout"]["end"]
    assert float(cells[("RL, FIRM-Gen RM + QMA", "strict overall / GenEval")]["mean"]) == pytest.approx(
        end["strict"]
    )
    for tag, label in (
        ("single_object", "single obj"),
        ("counting", "counting"),
        ("color_attr", "color attr"),
    ):
        assert float(cells[("RL, FIRM-Gen RM + QMA", label)]["mean"]) == pytest.approx(end["per_tag"][tag])
        assert float(cells[("start policy", label)]["mean"]) == pytest.approx(
            qma["heldout"]["start"]["per_tag"][tag]
        )
    assert cells[("SD3.5-Medium (start) (paper)", "strict overall / GenEval")]["mean"] == "0.52"
    assert cells[("FIRM-SD3.5 (FIRM-Gen-8B + QMA) (paper)", "UniGenBench++ long (paper)")]["mean"] == "76.22"
    assert cells[("FIRM-SD3.5 (FIRM-Gen-8B + QMA) (paper)", "counting")]["status"] == "missing"
    assert cells[("RL, FIRM-Gen RM + QMA", "DPG-Bench (paper)")]["status"] == "missing"

    # Table 5 (ablations): edit rows fill the edit columns, gen rows the gen ones; the lazy editor shows
    lazy = _rl_metrics("edit", 0.25, 0.75, lazy=True)
    ablation = {
        "cme": cme,
        "linear_equal": lazy,
        "linear_weighted": _rl_metrics("edit", 0.25, 0.5),
        "qma": qma,
        "instruction_only": _rl_metrics("gen", 0.25, 0.5),
        "quality_sum": _rl_metrics("gen", 0.25, 0.25),
        "flowgrpo": _rl_metrics("gen", 0.25, 0.375),
    }
    out, cells, md = render("firm_rl_table5", ablation)
    assert float(cells[("edit, linear 0.5E + 0.5C", "lazy rate")]["mean"]) == 1.0
    assert float(cells[("edit, linear 0.5E + 0.5C", "lazy gain")]["mean"]) == 1.0
    assert float(cells[("edit, linear 0.5E + 0.5C", "execution")]["mean"]) == 0.0
    assert float(cells[("gen, QMA (FIRM)", "strict gain")]["mean"]) == pytest.approx(
        qma["heldout"]["gains"]["strict"]["gain"]
    )
    assert cells[("gen, QMA + Flow-GRPO", "execution")]["status"] == "missing"
    assert cells[("edit, CME (FIRM)", "strict overall")]["status"] == "missing"
    assert not any(r[1].startswith("paper") for r in out.rows)


def test_firm_rl_published_numbers_are_the_documents() -> None:
    """firm.rl.published holds docs/papers/firm.md §5's two tables, cell for cell."""
    from firm.rl.published import PUBLISHED_RL_EDIT, PUBLISHED_RL_GEN, RL_EDIT_COLUMNS, RL_GEN_COLUMNS

    doc = (CONF.parent / "docs" / "papers" / "firm.md").read_text()
    section = doc[doc.index("## 5. RL") : doc.index("## 6.")]
    tables: list[list[list[str]]] = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0] in ("editing policy", "generation policy"):
                tables.append([])
            else:
                tables[-1].append(cells)
    assert len(tables) == 2
    for rows, published, columns in (
        (tables[0], PUBLISHED_RL_EDIT, RL_EDIT_COLUMNS),
        (tables[1], PUBLISHED_RL_GEN, RL_GEN_COLUMNS),
    ):
        assert [r[0] for r in rows] == list(published)
        for name, *values in rows:
            assert [published[name][c] for c in columns] == [float(v) for v in values], name


# ------------------------------------------------------------------------------- --jobs


def _hello_tables(tmp_path: Path, runs: list[dict]) -> list[str]:
    """A tables file of one table over ``runs`` (``hello`` runs, seed 0); the CLI's file arguments."""
    tables = {
        "profiles": {"quick": {"seeds": [0]}},
        "tables": [
            {
                "name": "hello_jobs",
                "title": "hello, several at once",
                "runs": runs,
                "columns": [{"key": "seed", "label": "seed"}],
                "rows": [{"label": r["id"], "run": r["id"]} for r in runs],
            }
        ],
    }
    path = tmp_path / "tables.yaml"
    path.write_text(yaml.safe_dump(tables))
    return ["--tables-file", str(path)]


def _spans(results: Path) -> dict[str, dict]:
    """``task.message`` -> the run's entry in ``<results>/reproduce.json``, its start and end parsed."""
    out = {}
    for r in json.loads((results / "reproduce.json").read_text())["runs"]:
        overrides = json.loads((Path(r["run_dir"]) / KEY_FILE).read_text())["overrides"]
        message = next(o.split("=", 1)[1] for o in overrides if o.startswith("task.message="))
        out[message] = r | {k: datetime.fromisoformat(r[k]) for k in ("started_at", "finished_at")}
    return out


def test_jobs_2_runs_independent_runs_at_once_and_builds_the_same_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two independent hello runs: with --jobs 2 their processes overlap in time (both start before
    either ends), with --jobs 1 one follows the other; the tables are identical."""
    args = _hello_tables(
        tmp_path,
        [
            {"id": "a", "exp": "hello", "overrides": ["task.message=a"]},
            {"id": "b", "exp": "hello", "overrides": ["task.message=b"]},
        ],
    )
    parallel, serial = tmp_path / "parallel", tmp_path / "serial"
    assert main([*args, "--results", str(parallel), "--jobs", "2"]) == 0
    assert "2 runs, 2 at a time" in capsys.readouterr().out
    assert main([*args, "--results", str(serial), "--jobs", "1"]) == 0
    a, b = _spans(parallel)["a"], _spans(parallel)["b"]
    assert a["status"] == b["status"] == "completed"
    assert a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]  # in flight together
    a, b = _spans(serial)["a"], _spans(serial)["b"]
    assert a["finished_at"] <= b["started_at"] or b["finished_at"] <= a["started_at"]  # one after the other
    for suffix in ("md", "csv", "tex"):
        name = f"hello_jobs.{suffix}"
        assert (parallel / "tables" / name).read_text() == (serial / "tables" / name).read_text()


def test_a_dependent_run_waits_for_its_dependency_and_is_blocked_when_it_fails(tmp_path: Path) -> None:
    """``b`` names ``a``'s run directory (``{runs:a}``, in a key hello ignores), so it depends on
    ``a``: with two slots it starts only after ``a`` ended, while the independent ``c`` runs beside
    ``a``; when ``a`` fails, ``b`` never starts and is blocked, ``c`` completes, the exit code is 1."""
    runs = [
        {"id": "a", "exp": "hello", "overrides": ["task.message=a"]},
        {"id": "b", "exp": "hello", "overrides": ["task.message=b", "+reads={runs:a}"]},
        {"id": "c", "exp": "hello", "overrides": ["task.message=c"]},
    ]
    results = tmp_path / "ok"
    assert main([*_hello_tables(tmp_path, runs), "--results", str(results), "--jobs", "2"]) == 0
    summary = json.loads((results / "reproduce.json").read_text())
    by_id = dict(zip("abc", summary["runs"], strict=True))  # plan order: a, b (after a), c
    assert str(Path(by_id["a"]["run_dir"])) in " ".join(
        json.loads((Path(by_id["b"]["run_dir"]) / KEY_FILE).read_text())["overrides"]
    )
    start = {k: datetime.fromisoformat(r["started_at"]) for k, r in by_id.items()}
    end = {k: datetime.fromisoformat(r["finished_at"]) for k, r in by_id.items()}
    assert all(r["status"] == "completed" for r in by_id.values())
    assert start["b"] >= end["a"]
    assert start["c"] < end["a"] and start["a"] < end["c"]  # c took the second slot beside a

    runs[0]["overrides"] = ["task.message=a", "+task.no_such_parameter=1"]
    results = tmp_path / "failing"
    assert main([*_hello_tables(tmp_path, runs), "--results", str(results), "--jobs", "2"]) == 1
    by_id = dict(zip("abc", json.loads((results / "reproduce.json").read_text())["runs"], strict=True))
    assert [by_id[k]["status"] for k in "abc"] == ["failed", "blocked", "completed"]
    assert by_id["b"]["started_at"] is None and not Path(by_id["b"]["run_dir"]).exists()
    assert "which did not complete" in by_id["b"]["error"]


def test_the_longest_chains_start_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expected minutes a=1, b=5, c=3, and d (10) depends on a: a's chain is 11, so with one
    slot the order is a, d (once a ended), b, c; without hints, plan order."""
    from experiments.reproduction import runs as runs_module
    from experiments.reproduction.runs import PlannedRun, critical_path_minutes, execute_runs

    def planned(name: str, minutes: float, depends: tuple[PlannedRun, ...] = ()) -> PlannedRun:
        run = PlannedRun("hello", 0, [f"task.message={name}"], name, Path("/nonexistent") / name)
        run.minutes, run.depends, run.status = minutes, list(depends), "run"
        return run

    a = planned("a", 1)
    runs = [a, planned("b", 5), planned("c", 3), planned("d", 10, (a,))]
    assert critical_path_minutes(runs) == {"a": 11, "b": 5, "c": 3, "d": 10}
    started: list[str] = []

    def execute(run: PlannedRun, **_: object) -> None:  # what is scheduled, not run
        started.append(run.key)
        run.status = "completed"

    monkeypatch.setattr(runs_module, "execute_run", execute)
    execute_runs(runs, jobs=1, tick_s=0.01)
    assert started == ["a", "d", "b", "c"]
    started.clear()
    execute_runs([planned(k, 1.0) for k in "xyz"], jobs=1, tick_s=0.01)
    assert started == ["x", "y", "z"]


def test_a_run_declares_its_expected_minutes(tmp_path: Path) -> None:
    decl = load_declarations()
    minutes = {r.exp: r.minutes for t in decl.tables for r in t.runs}
    assert all(m is not None and m > 0 for m in minutes.values())  # every shipped run is hinted
    assert min(minutes["firm_gen_rl"], minutes["t2ieval_r1_grpo"]) > minutes["tifa_meta_eval"]
    with pytest.raises(ValueError, match="minutes must be >= 0"):
        RunSpec(id="x", exp="hello", minutes=-1)


def test_the_default_job_count_is_the_cores_over_the_threads_of_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from experiments import reproduce
    from experiments.reproduction.runs import PlannedRun, default_jobs, threads_per_run

    # max(1, cores // threads per run)
    cases = {(1, 2): 2, (2, 2): 1, (3, 2): 1, (4, 16): 4, (1, 1): 1, (8, 4): 1, (1, 0): 1}
    assert {case: default_jobs(*case) for case in cases} == cases
    runs = [PlannedRun("hello", 0, [], "k", tmp_path, threads=t) for t in (1, 3, None)]
    assert threads_per_run(runs[:2], cpus=8) == 3
    assert threads_per_run(runs, cpus=8) == 8  # unset: torch takes every core
    assert threads_per_run([], cpus=8) == 1

    # the threads are the run's runtime.threads as composed: T2I_THREADS (conf/runtime/default.yaml)
    args = _hello_tables(tmp_path, [{"id": "a", "exp": "hello"}])
    jobs: list[int] = []
    monkeypatch.setattr(reproduce, "_run_all", lambda runs, timeout, n: jobs.append(n))
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    for threads, expected in (("1", 4), ("2", 2), ("3", 1), ("8", 1)):
        monkeypatch.setenv("T2I_THREADS", threads)
        main([*args, "--results", str(tmp_path / threads)])  # exit 1: the run did not run
        assert jobs[-1] == expected
    main([*args, "--results", str(tmp_path / "explicit"), "--jobs", "3"])
    assert jobs[-1] == 3
    assert main([*args, "--results", str(tmp_path / "bad"), "--jobs", "0"]) == 2


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def _stand_in_python(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in for the interpreter a run is executed with: a shell script that starts a child
    (``sleep``), writes both process ids to the file it returns second, and waits."""
    pids = tmp_path / "pids"
    fake = tmp_path / "fake_python"
    fake.write_text(f'#!/bin/sh\nsleep 120 &\necho "$$ $!" >> {pids}\nwait\n')
    fake.chmod(0o755)
    return fake, pids


def _wait_until_gone(pids: list[int], timeout_s: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return not any(_alive(p) for p in pids)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_run_past_its_timeout_is_stopped_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from experiments.reproduction import runs

    fake, pids = _stand_in_python(tmp_path)
    monkeypatch.setitem(runs.execute_runs.__kwdefaults__, "python", str(fake))
    args = _hello_tables(
        tmp_path, [{"id": i, "exp": "hello", "overrides": [f"task.message={i}"]} for i in "ab"]
    )
    results = tmp_path / "results"
    assert main([*args, "--results", str(results), "--jobs", "2", "--timeout", "1"]) == 1
    summary = json.loads((results / "reproduce.json").read_text())
    assert [r["error"] for r in summary["runs"]] == ["stopped after --timeout 1 s"] * 2
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 4 and _wait_until_gone(started)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_or_ctrl_c_stops_every_run_in_flight_and_leaves_them_to_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signum: int, code: int
) -> None:
    """The reproduce CLI with --jobs 2 in a process of its own, its runs executed by a stand-in
    interpreter (:func:`_stand_in_python`): SIGTERM (or SIGINT, Ctrl-C) stops both runs with their
    children, the exit code is 143 (130), and the next call plans both runs again."""
    import subprocess
    import sys
    import time

    fake, pids = _stand_in_python(tmp_path)
    args = [
        *_hello_tables(
            tmp_path, [{"id": i, "exp": "hello", "overrides": [f"task.message={i}"]} for i in "ab"]
        ),
        "--results",
        str(tmp_path / "results"),
    ]
    script = (
        "import signal, sys\n"
        # Ctrl-C as a terminal sends it: a background job of a shell inherits SIGINT ignored
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from experiments.reproduction import runs\n"
        f"runs.execute_runs.__kwdefaults__['python'] = {str(fake)!r}  # the stand-in interpreter\n"
        "from experiments.reproduce import main\n"
        f"sys.exit(main({[*args, '--jobs', '2']!r}))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=CONF.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 50
        while time.monotonic() < deadline and len(pids.read_text().split() if pids.exists() else []) < 4:
            time.sleep(0.2)
        started = [int(p) for p in pids.read_text().split()]
        assert len(started) == 4 and all(_alive(p) for p in started)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "interrupted" in err
    assert _wait_until_gone(started)
    assert main([*args, "--dry-run"]) == 0
    assert "2 runs, 0 reused, 2 to run" in capsys.readouterr().out  # nothing completed: both run again


def _write_predictions(
    path: Path, human: list[float], preds: list[float | None], aspect: str = "overall"
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        {
            "benchmark": "t2i_eval",
            "aspect": aspect,
            "key": f"item-{i}",
            "label": h,
            "prediction": p,
            "answer": None,
        }
        for i, (h, p) in enumerate(zip(human, preds, strict=True))
    ]
    lines.append(
        {"benchmark": "tifa", "aspect": "faithfulness", "key": "other", "label": 1.0, "prediction": 9.0}
    )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _comparison_tables(tmp_path: Path) -> Path:
    tables = {
        "profiles": {"quick": {"seeds": [0, 1]}},
        "tables": [
            {
                "name": "paired",
                "title": "paired",
                "runs": [
                    {"id": "new", "exp": "hello", "overrides": ["task.message=new"]},
                    {"id": "old", "exp": "hello", "overrides": ["task.message=old"]},
                ],
                "columns": [{"key": "seed", "label": "seed"}],
                "rows": [{"label": "new", "run": "new"}, {"label": "old", "run": "old"}],
                "comparisons": [
                    {
                        "label": "new - old",
                        "a": "new",
                        "b": "old",
                        "scores": "preds.jsonl",
                        "where": {"benchmark": "t2i_eval", "aspect": "overall"},
                    }
                ],
            }
        ],
    }
    path = tmp_path / "tables.yaml"
    path.write_text(yaml.safe_dump(tables))
    return path


def test_a_tables_paired_comparison_is_rendered_below_it_from_the_runs_predictions(tmp_path: Path) -> None:
    """Two finished runs per seed with per-item predictions: the table's Markdown and CSV carry the
    paired difference of their Spearman, the numbers of ``paired_difference`` on the same items
    (only the lines ``where`` selects; a missing prediction mean-filled)."""
    from common.scoring import paired_difference, spearman

    path = _comparison_tables(tmp_path)
    data = yaml.safe_load(path.read_text())
    broken = {"label": "unreadable", "a": "new", "b": "old", "scores": "nothing.jsonl"}
    data["tables"][0]["comparisons"].append(broken)
    path.write_text(yaml.safe_dump(data))
    results = tmp_path / "results"
    decl = load_declarations(path)
    _, per_table = plan_runs(decl, decl.tables, "quick", results)
    human = [float(i % 7) for i in range(40)]
    preds: dict[str, list[list[float | None]]] = {"new": [], "old": []}
    for run_id, noise in (("new", 1.0), ("old", 6.0)):
        for k, run in enumerate(per_table[("paired", run_id)]):
            row: list[float | None] = [h + noise * ((7 * i + 3 * k) % 5 - 2) for i, h in enumerate(human)]
            row[k] = None
            preds[run_id].append(row)
            fake_completed(run.run_dir, run.key, {"seed": run.seed})
            _write_predictions(run.run_dir / "preds.jsonl", human, row)
    assert main(["--tables-file", str(path), "--results", str(results)]) == 0
    expected = paired_difference(preds["new"], preds["old"], human, spearman)
    md = (results / "tables" / "paired.md").read_text()
    assert "Paired differences" in md
    assert f"mean over 2 paired seeds {expected.mean:+.3f} [{expected.mean_ci.low:+.3f}, " in md
    assert f"seed 1: {expected.per_seed[1]:+.3f}" in md and "(40 items, 1000 paired item resamples" in md
    assert "mean-filled predictions per seed: new 1/1, old 1/1" in md
    assert (
        "**unreadable** (spearman, new - old): - (predictions file not found" in md
    )  # the rest still renders
    row_csv = next(
        r
        for r in csv.DictReader(io.StringIO((results / "tables" / "paired.csv").read_text()))
        if r["row"] == "new - old"
    )
    assert float(row_csv["mean"]) == pytest.approx(expected.mean)
    assert row_csv["ci_kind"] == "paired item bootstrap" and row_csv["n"] == "2"
    assert [float(v) for v in row_csv["values"].split()] == pytest.approx(expected.per_seed)


def test_a_comparison_that_cannot_be_computed_says_why_instead_of_stopping(tmp_path: Path) -> None:
    from experiments.reproduction.compare import compare_runs
    from experiments.reproduction.spec import ComparisonSpec

    spec = ComparisonSpec(label="x", a="a", b="b", scores="p.jsonl")
    _write_predictions(tmp_path / "a" / "p.jsonl", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    _write_predictions(tmp_path / "b" / "p.jsonl", [1.0, 2.0], [2.0, 1.0])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "p.jsonl").write_text('{"key": "item-0", "label": 1.0, "prediction": "high"}\n')
    cases = {
        "b": "seed 0: the runs scored different items (1 only in",
        "missing": "predictions file not found",
        "bad": "p.jsonl:1: field 'prediction': expected a number or null, got 'high'",
    }
    for run, reason in cases.items():
        c = compare_runs(spec, {0: tmp_path / "a"}, {0: tmp_path / run})
        assert c.status == "error" and c.result is None and reason in (c.error or "")
        assert c.text().endswith(f"({c.error})") and c.text().startswith("**x** (spearman, a - b): - ")
    none = compare_runs(spec, {0: tmp_path / "a"}, {1: tmp_path / "b"})
    assert none.status == "missing" and none.text().endswith("- (no seed that both runs finished)")
    other_field = ComparisonSpec(label="x", a="a", b="b", scores="p.jsonl", prediction="score")
    assert "p.jsonl:1: field 'score': missing" in (
        compare_runs(other_field, {0: tmp_path / "a"}, {0: tmp_path / "a"}).error or ""
    )


def test_a_comparison_pairs_items_by_key_and_can_read_another_file_of_run_b(tmp_path: Path) -> None:
    """Run b's lines in another order, and its predictions in ``scores_b`` (e.g. the same run's
    starting checkpoint): the difference is that of the items matched by key, from that file."""
    from common.scoring import paired_difference, spearman
    from experiments.reproduction.compare import compare_runs
    from experiments.reproduction.spec import ComparisonSpec

    human = [float(i % 5) for i in range(30)]
    new = [h + (i % 3) for i, h in enumerate(human)]
    old = [float((7 * i) % 11) for i in range(30)]
    _write_predictions(tmp_path / "run" / "trained.jsonl", human, new)
    lines = [
        {
            "benchmark": "t2i_eval",
            "aspect": "overall",
            "key": f"item-{i}",
            "label": human[i],
            "prediction": old[i],
        }
        for i in reversed(range(30))
    ]
    (tmp_path / "run" / "start.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    spec = ComparisonSpec(
        label="gain",
        a="r",
        b="r",
        scores="trained.jsonl",
        scores_b="start.jsonl",
        where={"aspect": "overall"},
    )
    c = compare_runs(spec, {0: tmp_path / "run"}, {0: tmp_path / "run"})
    expected = paired_difference([new], [old], human, spearman)
    assert c.result is not None and c.result.per_seed == pytest.approx(expected.per_seed)
    assert c.result.mean_ci == expected.mean_ci
    assert c.result.mean == pytest.approx(float(spearman(new, human)) - float(spearman(old, human)))
    assert c.result.mean > 0.3


def test_a_comparison_naming_an_unknown_run_is_refused(tmp_path: Path) -> None:
    path = _comparison_tables(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["tables"][0]["comparisons"][0]["b"] = "nope"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="comparison 'new - old' names unknown run 'nope'"):
        load_declarations(path)
    data["tables"][0]["comparisons"][0]["b"] = "new"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="compares run 'new' with itself; name another run as b"):
        load_declarations(path)
