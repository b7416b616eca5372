"""Reading predictions files, and the errors on bad input (file, line, field named)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.scoring.predictions import PredictionsFormatError, load_predictions


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_jsonl(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "preds.jsonl",
        '{"id": "a", "score": 3.5, "rationale": "ok"}\n\n'
        '{"id": 7, "score": null}\n{"id": "c", "score": NaN}\n',
    )
    assert load_predictions(p) == {"a": 3.5, "7": None, "c": None}


def test_json_mapping_and_list(tmp_path: Path) -> None:
    assert load_predictions(write(tmp_path, "p.json", '{"a": 1, "b": null}')) == {"a": 1.0, "b": None}
    recs = json.dumps([{"id": "a", "score": 2}, {"id": "b", "score": 4.5}])
    assert load_predictions(write(tmp_path, "q.json", recs)) == {"a": 2.0, "b": 4.5}


def test_other_suffix_is_sniffed(tmp_path: Path) -> None:
    assert load_predictions(write(tmp_path, "p.txt", '{"a": 1}')) == {"a": 1.0}
    assert load_predictions(write(tmp_path, "q.out", '{"id": "a", "score": 1}')) == {"a": 1.0}


def test_custom_fields(tmp_path: Path) -> None:
    p = write(tmp_path, "p.jsonl", '{"image": "x", "overall": 2}\n')
    assert load_predictions(p, id_field="image", score_field="overall") == {"x": 2.0}


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ('{"id": "a", "score": 1}\n{"id": "b", "score": }\n', 2, None, "invalid JSON"),
        ('{"id": "a", "score": 1}\n\n{"id": "b"}\n', 3, "score", "missing"),
        ('{"id": "a", "score": "4"}\n', 1, "score", "expected a number or null, got '4'"),
        ('{"id": "a", "score": true}\n', 1, "score", "expected a number or null"),
        ('{"id": ["a"], "score": 1}\n', 1, "id", "expected a string"),
        ('{"score": 1}\n', 1, "id", "missing"),
        ("[1, 2]\n", 1, None, "expected a JSON object, got list"),
        ('{"id": "a", "score": 1}\n{"id": "a", "score": 2}\n', 2, "id", "duplicate id 'a' (first at line 1)"),
    ],
)
def test_jsonl_errors_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str | None, message: str
) -> None:
    p = write(tmp_path, "bad.jsonl", text)
    with pytest.raises(PredictionsFormatError) as info:
        load_predictions(p)
    err = info.value
    assert (err.path, err.line, err.field) == (str(p), line, field)
    assert str(err).startswith(f"{p}:{line}: ")
    assert message in str(err)
    if field is not None:
        assert f"field {field!r}" in str(err)


def test_json_errors(tmp_path: Path) -> None:
    with pytest.raises(PredictionsFormatError, match=r"bad\.json: field 'score': id 'b': expected a number"):
        load_predictions(write(tmp_path, "bad.json", '{"a": 1, "b": "x"}'))
    with pytest.raises(PredictionsFormatError, match=r"broken\.json:3: invalid JSON"):
        load_predictions(write(tmp_path, "broken.json", '{\n"a": 1,\n}'))
    with pytest.raises(PredictionsFormatError, match="expected a JSON object"):
        load_predictions(write(tmp_path, "num.json", "3"))
    with pytest.raises(FileNotFoundError, match="predictions file not found"):
        load_predictions(tmp_path / "nope.jsonl")


def test_where_keeps_only_the_records_whose_fields_match(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "score": 1.0, "bench": "x"},
        {"id": "a", "score": 9.0, "bench": "y"},  # the same id in another benchmark: not a duplicate
        {"id": "b", "score": None, "bench": "x"},
        {"id": "c", "bench": "y"},  # no score, but not selected: not an error
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_predictions(path, where={"bench": "x"}) == {"a": 1.0, "b": None}
    assert load_predictions(path, where={"bench": "z"}) == {}
    with pytest.raises(PredictionsFormatError, match=r"p\.jsonl:4: field 'score': missing"):
        load_predictions(path, where={"bench": "y"})
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"a": 1.0}))
    with pytest.raises(PredictionsFormatError, match="no fields to select"):
        load_predictions(mapping, where={"bench": "x"})


def test_several_fields_are_read_in_one_pass(tmp_path: Path) -> None:
    from common.scoring import load_prediction_fields

    rows = [{"key": "a", "p": 1.0, "h": 2.0}, {"key": "b", "p": None, "h": 3.0}]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_prediction_fields(path, "key", ("p", "h")) == {"a": (1.0, 2.0), "b": (None, 3.0)}
    with pytest.raises(PredictionsFormatError, match=r"p\.jsonl:1: field 'x': missing"):
        load_prediction_fields(path, "key", ("p", "x"))
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"a": 1.0}))
    with pytest.raises(PredictionsFormatError, match="or to read"):
        load_prediction_fields(mapping, "id", ("p", "h"))
