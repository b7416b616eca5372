"""The one config converter (common.config): types from the hints, defaults, errors naming the key path."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from omegaconf import OmegaConf

from common.config import CONFIG_KEY, ConfigError, to_dataclass, validate_tree, without_config_keys


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Stage:
    name: str
    steps: int = 10
    lr: float = 1e-3


@dataclass
class Inner:
    top_k: int = 0
    temperature: float = 1.0
    mode: Literal["a", "b"] = "a"


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    label: str | None = None
    devices: int | str = 1
    clip: float | None = 1.0
    on: bool = True
    colour: Colour = Colour.RED
    stages: list[Stage] = field(default_factory=list)
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[int, str] = (0, "x")
    weights: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    maybe: Inner | None = None


@dataclass
class Required:
    name: str
    size: int = 1

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")


@dataclass
class Special(Required):
    colour: str = "red"


def test_defaults_come_from_the_dataclass() -> None:
    assert to_dataclass(Outer, {}) == Outer()
    assert to_dataclass(Outer, None) == Outer()
    out = to_dataclass(Outer, {"inner": {"top_k": 3}})
    assert out.inner == Inner(top_k=3) and out.label is None and out.stages == []


def test_values_of_every_supported_kind() -> None:
    node = {
        "inner": {"top_k": 5.0, "temperature": 2, "mode": "b"},
        "label": "x",
        "devices": "auto",
        "clip": None,
        "on": False,
        "colour": "blue",
        "stages": [{"name": "warm", "steps": "5e2"}, {"name": "main", "lr": "1e-5"}],
        "sizes": [3, 4],
        "pair": [1, "y"],
        "weights": {"a": 1, "b": 0.5},
        "extra": {"anything": [1, {"x": None}]},
        "maybe": {"temperature": 0.5},
    }
    out = to_dataclass(Outer, OmegaConf.create(node))
    assert out.inner == Inner(top_k=5, temperature=2, mode="b")
    assert type(out.inner.top_k) is int and type(out.inner.temperature) is int  # an int stays an int
    assert (out.label, out.devices, out.clip, out.on, out.colour) == ("x", "auto", None, False, Colour.BLUE)
    assert out.stages == [Stage("warm", steps=500), Stage("main", lr=1e-5)]
    assert out.sizes == (3, 4) and out.pair == (1, "y")
    assert out.weights == {"a": 1, "b": 0.5} and out.extra == {"anything": [1, {"x": None}]}
    assert out.maybe == Inner(temperature=0.5)
    assert to_dataclass(Outer, {"devices": 2}).devices == 2
    assert to_dataclass(Outer, out) is out  # an instance is returned as is


def test_interpolations_are_resolved() -> None:
    cfg = OmegaConf.create({"k": 7, "node": {"inner": {"top_k": "${k}"}}})
    assert to_dataclass(Outer, cfg.node, "node").inner.top_k == 7


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"inner": {"top_k": "many"}}, r"task\.x\.inner\.top_k: expected an integer, got 'many' \(str\)"),
        ({"inner": {"top_k": 1.5}}, r"task\.x\.inner\.top_k: expected an integer, got 1\.5"),
        ({"inner": {"top_k": True}}, r"task\.x\.inner\.top_k: expected an integer, got True"),
        ({"inner": {"temperature": "hot"}}, r"task\.x\.inner\.temperature: expected a number, got 'hot'"),
        ({"inner": {"mode": "c"}}, r"task\.x\.inner\.mode: expected one of 'a', 'b', got 'c'"),
        ({"on": "yes"}, r"task\.x\.on: expected true or false, got 'yes'"),
        ({"label": 3}, r"task\.x\.label: expected a string or null, got 3 \(int\)"),
        ({"clip": "big"}, r"task\.x\.clip: expected a number or null, got 'big'"),
        ({"devices": 1.5}, r"task\.x\.devices: expected an integer or a string, got 1\.5"),
        ({"colour": "green"}, r"task\.x\.colour: expected one of 'RED', 'BLUE', got 'green'"),
        (
            {"stages": [{"name": "a"}, {"name": "b", "steps": "x"}]},
            r"task\.x\.stages\[1\]\.steps: expected an integer",
        ),
        ({"stages": [{"steps": 3}]}, r"task\.x\.stages\[0\]\.name: missing; Stage has no default for it"),
        ({"stages": {"name": "a"}}, r"task\.x\.stages: expected a list of a mapping of Stage fields items"),
        ({"pair": [1, 2, 3]}, r"task\.x\.pair: expected 2 items, got 3"),
        ({"weights": {"a": "heavy"}}, r"task\.x\.weights\.a: expected a number, got 'heavy'"),
        ({"inner": 3}, r"task\.x\.inner: expected a mapping of Inner fields, got 3"),
        (
            {"maybe": {"top_kk": 1}},
            r"task\.x\.maybe: unknown key\(s\) \['top_kk'\] for Inner; .*did you mean 'top_k' for 'top_kk'",
        ),
        ({"inner": {"top_k": 1, "temprature": 1.0}}, r"task\.x\.inner: unknown key\(s\) \['temprature'\]"),
        (
            {"zzz": 1},
            r"task\.x: unknown key\(s\) \['zzz'\] for Outer; valid keys: \[.*\]; remove them or fix",
        ),
    ],
)
def test_errors_name_the_full_key_path_the_type_and_the_value(node: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        to_dataclass(Outer, node, "task.x")


def test_a_non_mapping_node_and_the_default_path() -> None:
    with pytest.raises(ConfigError, match=r"^Outer: expected a mapping of Outer fields, got \[1\]"):
        to_dataclass(Outer, [1])
    assert issubclass(ConfigError, ValueError)


def test_post_init_checks_stay_with_the_dataclass() -> None:
    with pytest.raises(ValueError, match="size must be >= 1") as info:
        to_dataclass(Required, {"name": "a", "size": 0})
    assert not isinstance(info.value, ConfigError)


def test_the_config_key_names_the_class_or_a_subclass() -> None:
    here = f"{__name__}"
    assert to_dataclass(Required, {CONFIG_KEY: f"{here}.Required", "name": "a"}) == Required("a")
    sub = to_dataclass(Required, {CONFIG_KEY: f"{here}.Special", "name": "a", "colour": "blue"})
    assert type(sub) is Special and sub.colour == "blue"
    with pytest.raises(ConfigError, match=r"n\._config_ names .*Inner, but n is read as .*Required"):
        to_dataclass(Required, {CONFIG_KEY: f"{here}.Inner", "name": "a"}, "n")
    with pytest.raises(ConfigError, match=r"n\._config_: cannot import 'no_such_module\.X'"):
        to_dataclass(Required, {CONFIG_KEY: "no_such_module.X", "name": "a"}, "n")
    with pytest.raises(ConfigError, match=r"n\._config_: 'enum\.Enum' is not a dataclass"):
        to_dataclass(Required, {CONFIG_KEY: "enum.Enum", "name": "a"}, "n")


def test_validate_tree_converts_every_named_node() -> None:
    here = f"{__name__}"
    cfg = OmegaConf.create(
        {
            "size": 4,
            "task": {
                "_target_": "some.function",
                "a": {CONFIG_KEY: f"{here}.Required", "name": "x", "size": "${size}"},
                "runs": [{CONFIG_KEY: f"{here}.Stage", "name": "s"}],
                "plain": {"name": "not checked", "zzz": 1},
            },
            "top": {CONFIG_KEY: f"{here}.Required", "_target_": "ignored", "name": "t"},
        }
    )
    found = validate_tree(cfg)
    assert found == {"task.a": Required("x", 4), "task.runs[0]": Stage("s"), "top": Required("t")}
    bad = OmegaConf.merge(cfg, {"task": {"a": {"size": 0}}})
    with pytest.raises(ConfigError, match=r"^task\.a \(Required\): size must be >= 1, got 0"):
        validate_tree(bad)
    bad = OmegaConf.merge(cfg, {"task": {"runs": [{CONFIG_KEY: f"{here}.Stage", "name": "s", "steps": "x"}]}})
    with pytest.raises(ConfigError, match=r"^task\.runs\[0\]\.steps: expected an integer"):
        validate_tree(bad)


def test_without_config_keys() -> None:
    tree = {CONFIG_KEY: "a.B", "x": [{CONFIG_KEY: "c.D", "y": 1}], "z": {"w": 2}}
    assert without_config_keys(tree) == {"x": [{"y": 1}], "z": {"w": 2}}


def test_resume_keys_leave_the_config_keys_out() -> None:
    from common.run_checkpoints import resume_key

    named = {"a": 1, "task": {CONFIG_KEY: "x.Y", "b": [2, {CONFIG_KEY: "z.W", "c": 3}]}}
    plain_tree = {"a": 1, "task": {"b": [2, {"c": 3}]}}
    assert resume_key(named) == resume_key(plain_tree) != resume_key({**plain_tree, "a": 2})
