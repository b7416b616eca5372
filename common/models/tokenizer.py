"""The project's own word-level tokenizer, trained with the ``tokenizers`` library.

One token per word of :mod:`common.models.vocabulary` (the world's vocabulary, the template
words, numbers 0-100, decimal scores, punctuation), the evaluator's format tags and the Qwen chat
/ vision special tokens. Wrapped as a transformers fast tokenizer (``PreTrainedTokenizerFast``,
in transformers 5 an alias of ``TokenizersBackend``) with a Qwen-VL style chat template, so the
real Qwen processors, ``apply_chat_template`` and ``generate`` use it unchanged.

Behaviour worth knowing:

- Text is lower-cased; words, numbers (``7``, ``7.5``) and punctuation marks are separate tokens.
  Unknown words become ``<unk>`` (never an error).
- Decoding joins tokens with single spaces and does no "clean-up" (the transformers default
  turns ``" ,"`` into ``","``): ``decode(encode(t)) == canonical_text(t)`` for in-vocabulary text.
- Newlines are whitespace: the chat template's ``"\\n"`` after a role name produces no token.
- ``<think>``/``<answer>`` tags are ordinary tokens (kept by ``skip_special_tokens=True``); the
  chat tokens (``<|im_start|>`` ...) and ``<unk>`` are special.
"""

from __future__ import annotations

import functools

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerFast

from common.models.vocabulary import (
    EOS_TOKEN,
    FORMAT_TAGS,
    PAD_TOKEN,
    PRETOKENIZER_PATTERN,
    SPECIAL_TOKENS,
    UNK_TOKEN,
    all_words,
)

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}"
    "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif item['type'] == 'text' %}"
    "{{ item['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""Qwen-VL layout: ``<|im_start|>role\\n ... <|im_end|>\\n`` per message; each image item becomes
``<|vision_start|><|image_pad|><|vision_end|>`` (the processor expands ``<|image_pad|>`` to one
token per merged image patch). Content may be a string or a list of ``{"type": "image"}`` /
``{"type": "text", "text": ...}`` items, as in the real Qwen templates."""

MODEL_MAX_LENGTH = 4096


@functools.lru_cache(maxsize=2)
def _trained_json(add_eos: bool) -> str:
    """The trained backend as JSON (cached: training takes ~1 s and is deterministic)."""
    return _train_backend(add_eos).to_str()


def _train_backend(add_eos: bool) -> Tokenizer:
    tok = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(PRETOKENIZER_PATTERN), behavior="isolated"),
        ]
    )
    trainer = trainers.WordLevelTrainer(
        vocab_size=1_000_000, min_frequency=0, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    words = [w for w in all_words() if w not in FORMAT_TAGS]
    tok.train_from_iterator(words, trainer=trainer)
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in FORMAT_TAGS])
    # Word-level: join with single spaces, nothing else (no "##" merging, no clean-up).
    tok.decoder = decoders.WordPiece(prefix="\x00", cleanup=False)
    if add_eos:
        eos_id = tok.token_to_id(PAD_TOKEN)
        tok.post_processor = TemplateProcessing(
            single=f"$A {PAD_TOKEN}",
            pair=f"$A {PAD_TOKEN} $B {PAD_TOKEN}",
            special_tokens=[(PAD_TOKEN, eos_id)],
        )
    return tok


def build_tokenizer(padding_side: str = "left", add_eos: bool = False) -> PreTrainedTokenizerFast:
    """Train the word-level tokenizer and wrap it as a transformers fast tokenizer.

    Args:
        padding_side: ``"left"`` for the VLMs (batched generation needs left padding);
            ``"right"`` for text encoders.
        add_eos: append ``<|endoftext|>`` to every encoded text (what a CLIP text encoder pools
            at). Used for the tiny T2I text encoder; the VLM tokenizer adds nothing.

    Returns:
        A tokenizer whose ids are the same on every call (the training is deterministic).
    """
    backend = Tokenizer.from_str(_trained_json(add_eos))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN if not add_eos else PAD_TOKEN,
        padding_side=padding_side,
        clean_up_tokenization_spaces=False,
        model_max_length=MODEL_MAX_LENGTH,
        chat_template=CHAT_TEMPLATE,
    )
    return tokenizer


def special_token_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    """Ids of the special tokens a Qwen-VL config needs, by config field name."""
    ids = {
        "pad_token_id": tokenizer.convert_tokens_to_ids(PAD_TOKEN),
        "eos_token_id": tokenizer.convert_tokens_to_ids(EOS_TOKEN),
        "bos_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        "image_token_id": tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        "vision_start_token_id": tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tokenizer.convert_tokens_to_ids("<|vision_end|>"),
    }
    unk = tokenizer.convert_tokens_to_ids(UNK_TOKEN)
    missing = [k for k, v in ids.items() if v == unk]
    if missing:
        raise ValueError(f"tokenizer lacks the special tokens for {missing}")
    return ids
