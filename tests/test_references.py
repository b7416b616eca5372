"""Every file reference a reader meets resolves inside the repository.

Scans the tracked text files (``git ls-files``: Python, Markdown, YAML, TOML, cfg, Makefile) for
path-like tokens ending in .md, .py, .yaml, .json, .toml or .sh (bare, in backticks, with a
``:func`` or ``:123`` suffix) and for Markdown link targets, and asserts that each names an existing
file or folder: relative to the repository root, or, for a Markdown link, relative to the file that
holds it. In Python only prose is read as references (comments and string statements, i.e.
docstrings); other string literals are the program's own data, so only their tokens with a folder
in them are checked (a bare name there is a file the code reads or writes at run time). Tokens with
a placeholder (``<run_dir>``, ``{name}``, ``*``) and URLs are not paths. It also fails on any
mention of the places that used to hold this project's notes outside the repository
(``FORBIDDEN``), wherever it occurs, code included.
"""

from __future__ import annotations

import io
import re
import subprocess
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = (".py", ".md", ".yaml", ".yml", ".toml", ".cfg")
NAMES = ("Makefile",)

TOKEN = re.compile(
    r"(?<![\w./<>{}*@-])"  # not the tail of a longer path, an absolute path or an address
    r"((?:\.\.?/)*[\w<>{}*.-]+(?:/[\w<>{}*.-]+)*\.(?:md|py|yaml|json|toml|sh))"
    r"(?![\w/-])"
    r"(?::(\w+))?"  # path.py:func or path.py:123
)
MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # [text](target "title")
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
PLACEHOLDER = re.compile(r"[<>{}*]|\.\.\.")

# Bare names that are not files of this repository: each is written or read at run time.
ALLOWED = {
    "metrics.json": "a run's returned metrics, in every run directory (common/runtime.py)",
    "run.json": "a run's metadata (host, cluster, SLURM ids, exit status), in every run directory",
    "config.yaml": "a run's resolved config; also the config of a saved evaluator",
    "MODEL_CARD.md": "the card written beside a cached tiny base (common/models/pretrain/cards.py)",
    "card.json": "the machine-readable card beside a cached base or a saved evaluator",
    "pretrain_config.yaml": "the pretraining config saved beside a cached base",
    "build.json": "the manifest saved beside a world benchmark (common/world/benchmarks/store.py)",
    "trainer_state.json": "the state file of a training checkpoint (common/run_checkpoints.py)",
    "t2i_bundle.json": "the project settings saved with a T2I bundle (common/models/t2i/spec.py)",
    "config.json": "the config of a Hugging Face model directory (hub or exported)",
    "model_index.json": "the index of a diffusers pipeline directory (hub or exported)",
    "adapter_config.json": "the config of a saved PEFT LoRA adapter",
    "preprocessor_config.json": "the image-processor config of a hub VLM repository",
    "t2i-eval-bench.json": "a file of the real T2I-Eval-Bench release, not shipped here",
    "scores.json": "a file of the real T2I-Eval-Bench release, not shipped here",
    "train_log.json": "a training run's per-step log (firm/tasks/rm.py, firm/tasks/rl.py)",
    "rm_card.json": "the card beside a cached trained reward model (firm/rm/cache.py)",
    "report.md": "an RL run's held-out table (firm/tasks/rl.py)",
    "heldout.json": "an RL run's held-out summaries and paired gains (firm/tasks/rl.py)",
    "heldout_records.json": "an RL run's per-pair held-out checker records (firm/tasks/rl.py)",
}

FORBIDDEN = {
    r"\.\./shared\b|\bshared/": "a folder outside the repository",
    r"(?<!docs/)\bpapers/": "notes outside the repository; the paper facts are in docs/papers/",
    r"\breference/": "notes outside the repository",
    r"\bDESIGN\.md\b": "a note outside the repository",
    r"\bROADMAP\.md\b": "a note outside the repository",
    r"\btiny_scale_notes\.md\b": "a note outside the repository",
}
FORBIDDEN_RE = re.compile("|".join(f"(?:{p})" for p in FORBIDDEN))


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    this = Path(__file__).resolve().relative_to(ROOT).as_posix()  # its examples are bad on purpose
    return [f for f in out.split("\0") if f and f != this and (f.endswith(SUFFIXES) or Path(f).name in NAMES)]


def python_segments(text: str) -> list[tuple[int, str, bool]]:
    """``(line, text, is_prose)`` of the comments and string literals of a Python source.

    Prose: comments and string statements (docstrings, also of attributes); other strings are code."""
    strings = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    starts = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING)
    out: list[tuple[int, str, bool]] = []
    prev = tokenize.NEWLINE  # the last token before the current run of strings
    run: list[tokenize.TokenInfo] = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            out.append((tok.start[0], tok.string, True))
        elif tok.type in strings:
            run.append(tok)
        elif tok.type != tokenize.NL:
            statement = prev in starts and tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER)
            out.extend((t.start[0], t.string, statement) for t in run)
            run = []
            prev = tok.type
    return out


def segments(path: str, text: str) -> list[tuple[int, str, bool]]:
    if path.endswith(".py"):
        return python_segments(text)
    return [(i, line, True) for i, line in enumerate(text.splitlines(), 1)]


def resolves(target: str, base: Path) -> bool:
    return (base / target).exists()


def has_anchor(file: Path, anchor: str) -> bool:
    """``file`` has line ``anchor`` (a number) or defines or mentions the name ``anchor``."""
    text = file.read_text(encoding="utf-8")
    if anchor.isdigit():
        return 1 <= int(anchor) <= text.count("\n") + 1
    return re.search(rf"\b{re.escape(anchor)}\b", text) is not None


def bad_references(path: str, text: str) -> list[str]:
    """``path:line: message`` for each reference of ``text`` (the file ``path``) that does not resolve."""
    found: list[str] = []
    here = (ROOT / path).parent
    for line, seg, prose in segments(path, text):
        seg = URL.sub(" ", seg)
        if path.endswith(".md"):
            for m in MD_LINK.finditer(seg):
                target = m.group(1).split("#", 1)[0]
                if target and not PLACEHOLDER.search(target) and not resolves(target, here):
                    found.append(f"{path}:{line}: link target {target!r} does not exist")
            seg = MD_LINK.sub(" ", seg)  # the link text names the target just checked
        for m in FORBIDDEN_RE.finditer(seg):
            found.append(f"{path}:{line}: {m.group(0)!r} points outside the repository")
        for m in TOKEN.finditer(seg):
            token = m.group(1)
            if PLACEHOLDER.search(token) or (not prose and "/" not in token):
                continue
            if token not in ALLOWED and not resolves(token, ROOT):
                found.append(f"{path}:{line}: {token!r} is not a file of the repository")
            elif m.group(2) and resolves(token, ROOT) and not has_anchor(ROOT / token, m.group(2)):
                found.append(f"{path}:{line}: {token}:{m.group(2)} names no line or name of {token}")
    return found


def test_every_reference_resolves_inside_the_repo() -> None:
    found: list[str] = []
    for path in tracked_files():
        found += bad_references(path, (ROOT / path).read_text(encoding="utf-8"))
    assert not found, f"{len(found)} references do not resolve:\n" + "\n".join(found)


# The examples carry an "@" (removed before the check) so that they are not references of this file.
@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("common/x.py", '"""See docs/papers/nope@.md §2."""\n'),  # a docstring
        ("common/x.py", "x = 1  # algorithms@.md §1\n"),  # a comment, bare name
        ("common/x.py", 'open("docs/nope@/x.json")\n'),  # a code string with a folder
        ("common/x.py", "def f():\n    'common/rl/nope@.py:func'\n"),  # path.py:func
        ("common/x.py", '"""In `conf/exp/nope@.yaml`."""\n'),  # in backticks
        ("common/x.py", '"""See common/rl/kl.py:9@99."""\n'),  # past the end of the file
        ("common/x.py", '"""See common/rl/kl.py:no@_such_name."""\n'),
        ("docs/x.md", "see [the facts](../papers@/firm.md)\n"),  # a link relative to the file
        ("docs/x.md", "see [the facts](docs/papers@/firm.md)\n"),
        ("conf/x.yaml", "# see ../sha@red/notes\n"),
        ("t2ieval_r1/x.py", "# DESIGN@.md\n"),
        ("README.md", "the ROAD@MAP.md and tiny_scale@_notes.md\n"),
        ("README.md", "see pap@ers/firm.md\n"),
    ],
)
def test_a_bad_reference_is_flagged(path: str, text: str) -> None:
    assert bad_references(path, text.replace("@", ""))


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (
            "common/x.py",
            '"""See docs/papers/firm.md §2 and common/rl/kl.py:kl_estimate and common/rl/kl.py:43."""\n',
        ),
        ("common/x.py", 'path = run_dir / "train_log.json"  # a name the code writes\n'),
        ("docs/x.md", "see [the facts](pap@ers/firm.md), `conf/exp/<name>.yaml`, `<run_dir>/a.json`\n"),
        ("docs/x.md", "https://example.org/a/b.md and Qwen/Qwen2.5-VL-7B-Instruct\n"),
        ("README.md", "writes `metrics.json` and `config.yaml`; see [firm](docs/papers/firm.md#5-rl)\n"),
    ],
)
def test_a_good_reference_passes(path: str, text: str) -> None:
    assert bad_references(path, text.replace("@", "")) == []
