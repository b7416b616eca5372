"""The vendored GenEval and DrawBench prompt sets: counts, schema, provenance files."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from common.benchmarks import (
    drawbench_path,
    geneval_metadata_path,
    load_drawbench_prompts,
    load_geneval_prompts,
)
from common.world.geneval import GenEvalPrompt, GenEvalSchemaError

# sha256 of the files as published (also recorded in common/benchmarks/data/*/PROVENANCE.md): the
# copies are byte-identical.
SHA256 = {
    "evaluation_metadata.jsonl": "091119f01062f34a04c79163d093ea361383cd65c57c1a9d25f4aac2f7db70a3",
    "prompts.txt": "7c4d2518b7642eef86637001fea3f826a950d3c2fdfab70cd7cb45e6f10fdbea",
}


@pytest.mark.parametrize("path_fn", [geneval_metadata_path, drawbench_path])
def test_vendored_files_are_intact_with_license_and_provenance(path_fn) -> None:
    path: Path = path_fn()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256[path.name]
    assert "Apache License" in (path.parent / "LICENSE").read_text()
    assert SHA256[path.name] in (path.parent / "PROVENANCE.md").read_text()


def test_geneval_prompts() -> None:
    prompts = load_geneval_prompts()
    assert len(prompts) == 553
    assert all(isinstance(p, GenEvalPrompt) for p in prompts)
    assert Counter(p.tag for p in prompts) == {
        "color_attr": 100,
        "position": 100,
        "two_object": 99,
        "colors": 94,
        "counting": 80,
        "single_object": 80,
    }
    assert prompts[0].to_dict() == {
        "tag": "counting",
        "include": [{"class": "wine glass", "count": 2}],
        "exclude": [{"class": "wine glass", "count": 3}],
        "prompt": "a photo of two wine glasses",
    }


def test_geneval_bad_file_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "m.jsonl"
    bad.write_text(
        '{"tag": "colors", "include": [{"class": "dog", "count": 1, "color": "red"}], "prompt": "x"}\n'
        '{"tag": "nope", "include": [], "prompt": "y"}\n'
    )
    with pytest.raises(GenEvalSchemaError, match=r"m\.jsonl:2: unknown tag 'nope'"):
        load_geneval_prompts(bad)


def test_drawbench_prompts() -> None:
    prompts = load_drawbench_prompts()
    assert len(prompts) == 200 == len(set(prompts))
    assert all(p == p.strip() and p for p in prompts)
    assert prompts[4] == "An elephant under the sea."
