"""Dataclass defaults written once (common.config.register_defaults) and the corpus group.

A converted node (``task.grpo``, ``task`` of firm_serve, ``task.rl`` / ``task.eval`` of the FIRM
RL experiments) is its dataclass's defaults with the YAML's keys on top: composed without the
YAML's keys it equals the dataclass, every one of its leaves can be overridden from the command
line without ``+``, and the serve CLI's defaults are the same dataclass's. ``conf/corpus`` switches
a T2I-Eval-R1 corpus with one override, replacing the node.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue

from common.config import (
    CONFIG_KEY,
    DEFAULTS_GROUP,
    DEFAULTS_OF,
    config_class,
    defaults_node,
    register_defaults,
    to_dataclass,
    validate_tree,
)
from firm.serve.__main__ import parse_args
from firm.serve.config import ServeConfig, config_from_mapping
from t2ieval_r1.data.sources import CORPUS_SOURCES

CONF = Path(__file__).resolve().parent.parent / "conf"

CONVERTED: list[tuple[str, str, str]] = [
    ("firm_serve", "task", "serve"),
    ("t2ieval_r1_grpo", "task.grpo", "grpo"),
    ("t2ieval_r1_grpo_pairwise", "task.grpo", "grpo"),
    ("firm_gen_rl", "task.rl", "flow_rl"),
    ("firm_gen_rl", "task.eval", "rl_eval"),
    ("firm_edit_rl", "task.rl", "flow_rl"),
    ("firm_edit_rl", "task.eval", "rl_eval"),
]
"""(experiment, node, ``defaults_of`` name) of every node that starts from its dataclass's defaults."""
SCALES = ["tiny", "paper"]


def _compose(*overrides: str) -> Any:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def _node(name: str) -> dict[str, Any]:
    entry = DEFAULTS_OF[name]
    return defaults_node(config_class(entry.config), entry.omit)


def _leaves(node: Any, path: str) -> list[tuple[str, Any]]:
    """(dotted path, value) of every leaf; an empty mapping is a leaf."""
    if isinstance(node, dict) and node:
        return [leaf for k, v in node.items() for leaf in _leaves(v, f"{path}.{k}")]
    return [(path, node)]


def _hint(cls: type, keys: list[str]) -> Any:
    """The type hint of the field at ``keys`` below dataclass ``cls`` (``Any`` inside a mapping)."""
    hint: Any = cls
    for key in keys:
        options = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
        owner = next((o for o in options if dataclasses.is_dataclass(o)), None)
        if owner is None:
            return Any
        hint = typing.get_type_hints(owner)[key]
    return hint


def _another(value: Any, hint: Any) -> Any:
    """A value of the same type as ``value`` (or, for ``None``, of ``hint``) that differs from it."""
    if value is None:
        options = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
        origin = typing.get_origin(options[0]) or options[0]
        if origin is typing.Literal:
            return typing.get_args(options[0])[0]
        return {int: 7, float: 0.5, str: "x", dict: {"a": 1}, list: [1]}.get(origin, "x")
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    if isinstance(value, str):
        if typing.get_origin(hint) is typing.Literal:
            return next(a for a in typing.get_args(hint) if a != value)
        return value + "_x"
    if isinstance(value, list):
        return [*value, value[0]] if value else [1]
    if isinstance(value, dict):  # an empty free-form mapping: a key of the user's choosing
        return {"a": 1}
    raise AssertionError(f"no other value for {value!r}")


def _override(path: str, value: Any) -> str:
    """``path=value`` in Hydra's override grammar (strings quoted)."""
    if isinstance(value, str):
        return f"{path}='{value}'"
    if isinstance(value, bool):
        return f"{path}={str(value).lower()}"
    return f"{path}={value}"


def test_a_defaults_node_holds_every_field_default_and_names_its_dataclass() -> None:
    for name, entry in DEFAULTS_OF.items():
        cls = config_class(entry.config)
        node = _node(name)
        assert node[CONFIG_KEY] == entry.config, name
        stored = ConfigStore.instance().load(f"{DEFAULTS_GROUP}/{name}.yaml").node
        assert OmegaConf.to_container(stored) == node, name
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        assert set(node) - {CONFIG_KEY} == fields - set(entry.omit), name
        built = to_dataclass(cls, {**node, **{k: 0 for k in entry.omit}})  # a valid value of the class
        assert dataclasses.asdict(built) == dataclasses.asdict(cls(**{k: 0 for k in entry.omit})), name
    register_defaults()  # idempotent
    assert OmegaConf.to_container(ConfigStore.instance().load(f"{DEFAULTS_GROUP}/grpo.yaml").node) == _node(
        "grpo"
    )


def test_a_required_field_is_a_missing_value() -> None:
    @dataclasses.dataclass
    class Inner:
        depth: int = 2

    @dataclasses.dataclass
    class Spec:
        path: str
        inner: Inner = dataclasses.field(default_factory=Inner)
        sizes: tuple[int, ...] = (1, 2)

    node = OmegaConf.create(defaults_node(Spec))
    assert OmegaConf.is_missing(node, "path") and node.inner.depth == 2 and list(node.sizes) == [1, 2]
    with pytest.raises(MissingMandatoryValue):
        _ = node.path


KEPT = {
    "task.model.kind",  # firm_serve: what a user of the server must see (and set)
    "task.template",
    "task.host",
    "task.port",
    "task.access_log",
    "task.url_file",
    "task.rl.algorithm",  # the FIRM RL experiments: which algorithm (flow_grpo variants set it)
    "task.grpo.batch_size",  # the paper recipe's 2 items x G=8, which the default happens to equal
}
"""Leaves the experiments write although they equal the default: what a user must see."""


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(("exp", "path", "name"), CONVERTED)
def test_the_composed_node_is_the_dataclass_defaults_with_the_yaml_keys_on_top(
    exp: str, path: str, name: str, scale: str
) -> None:
    full = OmegaConf.to_container(OmegaConf.select(_compose(f"+exp={exp}", f"scale={scale}"), path))
    store = ConfigStore.instance()
    try:  # the same experiment with empty defaults nodes: only what its YAML files write
        for other in DEFAULTS_OF:
            store.store(group=DEFAULTS_GROUP, name=other, node=OmegaConf.create({}))
        written = OmegaConf.select(_compose(f"+exp={exp}", f"scale={scale}"), path)
    finally:
        register_defaults()
    expected = OmegaConf.to_container(OmegaConf.merge(_node(name), written or {}))
    assert full == expected
    assert not set(written or {}) & {CONFIG_KEY}, f"{exp}: {path} restates {CONFIG_KEY} (the node names it)"
    # what the YAML writes differs from the default (a default restated is written twice)
    defaults = dict(_leaves(_node(name), path))
    for leaf, value in _leaves(OmegaConf.to_container(written) if written else {}, path):
        if leaf in defaults and value == defaults[leaf] and leaf not in KEPT:
            pytest.fail(f"{exp} at scale={scale}: {leaf}: {value!r} restates the default")


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(("exp", "path", "name"), CONVERTED)
def test_every_key_of_a_converted_node_is_overridden_without_plus(
    exp: str, path: str, name: str, scale: str
) -> None:
    cls = config_class(DEFAULTS_OF[name].config)
    composed = OmegaConf.to_container(
        OmegaConf.select(_compose(f"+exp={exp}", f"scale={scale}"), path), resolve=True
    )
    wanted = {}
    for leaf, _ in _leaves({k: v for k, v in _node(name).items() if k != CONFIG_KEY}, path):
        value = OmegaConf.select(OmegaConf.create(composed), leaf[len(path) + 1 :])
        value = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        wanted[leaf] = _another(value, _hint(cls, leaf[len(path) + 1 :].split(".")))
    # an empty free-form mapping (task.model.overrides, reward.score_kwargs) has no keys to override:
    # a new key is added with `+` (+task.grpo.reward.score_kwargs.tol=0.5), as Hydra wants
    overrides = [
        f"+{k}.a=1" if isinstance(v, dict) and v == {"a": 1} else _override(k, v) for k, v in wanted.items()
    ]
    cfg = _compose(f"+exp={exp}", f"scale={scale}", *overrides)
    for leaf, value in wanted.items():
        got = OmegaConf.select(cfg, leaf)
        assert (OmegaConf.to_container(got) if OmegaConf.is_config(got) else got) == value, leaf


@pytest.mark.parametrize("scale", SCALES)
def test_serve_defaults_the_experiment_and_the_cli_agree(scale: str) -> None:
    cfg = _compose("+exp=firm_serve", f"scale={scale}")
    found = validate_tree(cfg)["task"]
    model = {"name": OmegaConf.select(cfg, "scale.models.reward_model")}
    assert found == dataclasses.replace(
        ServeConfig(), model=dataclasses.replace(ServeConfig().model, **model)
    )
    cli, _ = parse_args([])
    assert cli == ServeConfig()
    task = OmegaConf.to_container(_compose("+exp=firm_serve").task, resolve=True)
    tiny = config_from_mapping({k: v for k, v in task.items() if k != "_target_"})
    assert tiny == ServeConfig() == cli  # at scale=tiny the experiment serves the CLI's default model
    assert parse_args(["--max-batch-size", "3"])[0].max_batch_size == 3
    assert _compose("+exp=firm_serve", "task.max_batch_size=3").task.max_batch_size == 3


# ---------------------------------------------------------------------------------- corpora

WORLD_T2I_EVAL = {"source": "world", "name": "t2i_eval", "aspects": ["overall"]}
MIXED_TRAIN = {**WORLD_T2I_EVAL, "split": "train", "rescale": {"share": 0.5, "to": [1, 5]}}


@pytest.mark.parametrize(
    ("exp", "train", "val"),
    [
        ("t2ieval_r1_grpo", MIXED_TRAIN, {**WORLD_T2I_EVAL, "split": "test"}),
        ("t2ieval_r1_grpo_discrete", MIXED_TRAIN, {**WORLD_T2I_EVAL, "split": "test"}),
        (
            "t2ieval_r1_grpo_pairwise",
            {"source": "world", "name": "pairwise", "split": "train", "aspects": ["overall"]},
            {"source": "world", "name": "imagereward", "split": "test", "aspects": ["overall"]},
        ),
        ("t2ieval_r1_sft_scores", MIXED_TRAIN, None),
        ("t2ieval_r1_sft_rationale", MIXED_TRAIN, None),
    ],
)
def test_the_experiments_corpora(exp: str, train: dict[str, Any], val: dict[str, Any] | None) -> None:
    task = OmegaConf.to_container(_compose(f"+exp={exp}").task, resolve=True)
    assert task["train"] == train and task.get("val") == val
    if exp.startswith("t2ieval_r1_grpo"):  # the tiny format warm-up reads the training corpus
        assert task["model"]["warmup"]["corpus"] == train


def test_one_override_switches_a_corpus() -> None:
    cfg = _compose("+exp=t2ieval_r1_grpo", "corpus@task.train=world_tifa_test")
    assert OmegaConf.to_container(cfg.task.train) == {"source": "world", "name": "tifa", "split": "test"}
    assert cfg.task.val.name == "t2i_eval" and cfg.task.model.warmup.corpus.name == "tifa"
    cfg = _compose(
        "+exp=t2ieval_r1_grpo_pairwise", "corpus@task.val=world_t2i_eval_test", "+task.val.limit=5"
    )
    assert OmegaConf.to_container(cfg.task.val) == {
        "source": "world",
        "name": "t2i_eval",
        "split": "test",
        "aspects": ["overall"],
        "limit": 5,
    }
    cfg = _compose(
        "+exp=t2ieval_r1_sft_scores", "corpus@task.train=t2i_eval_distill", "task.train.path=/d/x.json"
    )
    assert OmegaConf.to_container(cfg.task.train) == {
        "source": "t2i_eval_distill",
        "path": "/d/x.json",
        "image_root": None,
        "aspects": ["overall"],
    }
    unset = _compose("+exp=t2ieval_r1_grpo", "corpus@task.train=t2i_eval_distill")
    with pytest.raises(MissingMandatoryValue, match="path"):
        _ = unset.task.train.path


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "corpus").glob("*.yaml")))
def test_every_corpus_option_fits_its_source(name: str) -> None:
    spec = OmegaConf.to_container(OmegaConf.load(CONF / "corpus" / f"{name}.yaml"))
    assert isinstance(spec, dict)
    source = CORPUS_SOURCES.get(spec.pop("source"))
    inspect.signature(source).bind_partial(**spec)  # every key is a parameter of the source
