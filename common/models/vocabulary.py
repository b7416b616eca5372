"""Every word the project's own tokenizer knows, kept in one place.

The tiny models read and write a closed language: the world's vocabulary
(:mod:`common.world.vocab`), the words of the prompt templates written by the trainers and
judges, numbers and punctuation. Prompt templates elsewhere in the project should only use words
listed here; :func:`oov_words` tells a template author (or a test) which words would become
``<unk>``. Adding a word here changes token ids, so pretrained tiny checkpoints keyed on the
tokenizer must be rebuilt: their cache key includes :func:`vocabulary_fingerprint`.

Canonical text: lower case, words, numbers and punctuation marks separated by single spaces
(``"a red circle , a blue square ."``). :func:`canonical_text` maps any text to that form; the
tokenizer decodes to it exactly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from common.world.vocab import COLORS, GENEVAL_TAGS, NUMBER_WORDS, RELATIONS, SHAPE_PLURALS, SHAPES, SIZES

FORMAT_TAGS: tuple[str, ...] = ("<think>", "</think>", "<answer>", "</answer>")
"""Reasoning / answer tags of the evaluator's output format. Ordinary (non-special) tokens, so
``skip_special_tokens=True`` keeps them when decoding completions."""

CHAT_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
"""Qwen chat / vision special tokens (the real Qwen tokenizers use the same strings)."""

UNK_TOKEN = "<unk>"
PAD_TOKEN = "<|endoftext|>"
"""Padding token (as in Qwen). Also the end-of-text token the tiny CLIP text encoder pools at."""
EOS_TOKEN = "<|im_end|>"
"""End of a chat turn: where VLM generation stops."""

SPECIAL_TOKENS: tuple[str, ...] = (UNK_TOKEN, *CHAT_SPECIAL_TOKENS)
"""Special tokens in id order: ``<unk>`` is 0, ``<|endoftext|>`` is 1 (never 2: the CLIP text
model of transformers 5 treats ``eos_token_id == 2`` with a legacy pooling rule)."""


def _words(block: str) -> tuple[str, ...]:
    """The whitespace-separated words of a text block."""
    return tuple(block.split())


PUNCTUATION: tuple[str, ...] = tuple(".,:;!?'\"()[]{}-_/*+=<>%#&|@$^~`\\")
"""Single-character punctuation tokens (each is its own token)."""

INTEGERS: tuple[str, ...] = tuple(str(i) for i in range(101))
"""Integers 0-100 (scores, counts, percentages, indices)."""

DECIMALS: tuple[str, ...] = tuple(
    dict.fromkeys([f"{i / 10:.1f}" for i in range(101)] + [f"{i / 4:.2f}" for i in range(41) if i % 2 == 1])
)
"""Decimal scores as single tokens: 0.0-10.0 in steps of 0.1, and the quarter steps x.25 / x.75."""

TEMPLATE_WORDS: tuple[str, ...] = _words(
    """
    a an the this that these those it its they them their there here is are was were be been being
    am has have had do does did not no yes of in on at to from by with without for and or but as
    if then than so only also each every all any some both either neither none one other another
    same different more most less least much many few several very too just about into onto over
    under between among near far next behind front inside outside around across along through
    what which who whose where when why how whether please must should would could can may might
    say says said tell tells rest remaining everything else nothing something anything whole entire
    new old now again while since because however therefore although
    will shall i you we me my your our he she his her him us

    photo picture image images figure scene canvas background foreground object objects thing
    things item items shape shapes colour color colours colors size sizes position positions
    count counts number numbers attribute attributes relation relations relationship
    relationships spatial layout location side sides part parts piece pieces region area

    left right above below top bottom middle center centre upper lower corner corners edge edges
    beside adjacent overlapping overlap touching apart row column horizontal vertical diagonal

    big bigger biggest little smaller smallest larger largest tiny huge medium-sized tall short
    wide narrow round pointed filled empty solid bright dark light pale

    rate rating ratings rated score scores scored scoring scale grade judge judgment evaluate
    evaluation evaluator assess assessment analyze analysis analyse review rationale reason
    reasoning reasons explain explanation think thought thinking answer answers final overall
    aspect aspects criterion criteria checklist check checks question questions plan requirement
    requirements detail details summary report output format json respond response reply

    prompt prompts text caption captions describe description instruction instructions request
    requested user assistant system task given following follow follows followed match matches
    matched matching mismatch consistent consistency inconsistent faithful faithfulness
    alignment aligned aligns execution executed execute quality aesthetic aesthetics structure
    texture appearance intrinsic extrinsic realism realistic natural artifact artifacts
    defect defects distortion distorted

    edit edits edited editing original source target result resulting before after change
    changes changed changing unchanged modify modified modification add adds added adding
    remove removes removed removing delete deleted move moves moved moving replace replaces
    replaced replacing replacement recolor recolour recolored recoloured recoloring
    recolouring turn turned make made keep kept put place placed swap swapped shift shifted
    instead into become becomes became

    correct correctly incorrect incorrectly right wrong wrongly true false present absent
    missing extra exist exists existing visible invisible clear clearly unclear partial
    partially complete completely fully mostly slightly somewhat perfect perfectly good better
    best bad worse worst fine poor excellent acceptable unacceptable minor major significant
    subtle obvious main severe mild high low

    first second third fourth fifth sixth last previous next pair pairs compare comparison
    compared versus vs preferred prefer preference chosen choose choice winner tie tied
    equal equally same similar

    blur blurred blurry sharp noise noisy blotch blotches blotched stain stains spot spots
    speck specks smudge smudged grain grainy clean crisp broken cut cropped occluded hidden

    see saw seen shows show shown showing contains contain contained containing depicts depict
    depicted depicting includes include included including appears appear appeared look looks
    looking seems seem find found count counted total exactly approximately least most

    out max min maximum minimum range between score_1 score_2 image_1 image_2 picture_1
    picture_2 times time step steps

    action asks besides border boxed cannot composition constraints deformed done element end
    formed got hold instructed melted negative noticeable off ok pixel satisfied slight softens
    strong structure_texture style subject against unintended visual well gone
    """
)
"""Words the prompt templates, rationales and instructions of the project may use (beyond the
world's vocabulary, numbers and punctuation). Be generous: an unknown word becomes ``<unk>``."""


def world_words() -> list[str]:
    """The embedded world's vocabulary as single words (relations split, tags kept whole)."""
    words: list[str] = []
    words += SHAPES
    words += SHAPE_PLURALS.values()
    words += COLORS.keys()
    words += SIZES.keys()
    for relation in RELATIONS:
        words += relation.split()
    words += NUMBER_WORDS
    words += ("seven", "eight", "nine", "ten")
    words += GENEVAL_TAGS
    return words


def all_words() -> list[str]:
    """Every ordinary (non-special) token, in a fixed order, without duplicates."""
    ordered = [
        *FORMAT_TAGS,
        *PUNCTUATION,
        *INTEGERS,
        *DECIMALS,
        *world_words(),
        *TEMPLATE_WORDS,
    ]
    return list(dict.fromkeys(w.lower() if not w.startswith("<") else w for w in ordered))


_TAG_PATTERN = "|".join(re.escape(t) for t in (*SPECIAL_TOKENS, *FORMAT_TAGS))
_PIECE = re.compile(rf"{_TAG_PATTERN}|\d+(?:\.\d+)?|\w+(?:-\w+)*|[^\w\s]")

PRETOKENIZER_PATTERN = r"\d+(?:\.\d+)?|\w+(?:-\w+)*|[^\w\s]"
"""How a whitespace-separated chunk splits into tokens: numbers with an optional decimal part,
words (hyphenated words stay whole), and single punctuation marks."""


def canonical_text(text: str) -> str:
    """The canonical form of ``text``: lower case, one space between tokens.

    ``canonical_text("A red circle, 7.5!")`` is ``"a red circle , 7.5 !"``. The tokenizer decodes
    any encoding of ``text`` (without unknown words) back to exactly this string.
    """
    pieces = _PIECE.findall(text)
    return " ".join(p if p.startswith("<") and len(p) > 1 else p.lower() for p in pieces)


def oov_words(text: str | Iterable[str]) -> list[str]:
    """Words of ``text`` (a string or several) that the tokenizer would map to ``<unk>``."""
    texts = [text] if isinstance(text, str) else list(text)
    known = set(all_words()) | set(SPECIAL_TOKENS)
    out: list[str] = []
    for t in texts:
        for piece in canonical_text(t).split():
            if piece not in known and piece not in out:
                out.append(piece)
    return out


def vocabulary_fingerprint() -> str:
    """A short hash of the token list, for cache keys of checkpoints that depend on token ids."""
    payload = "\n".join([*SPECIAL_TOKENS, *all_words()])
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
