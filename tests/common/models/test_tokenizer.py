"""The project's word-level tokenizer: vocabulary coverage, round trip, special tokens, chat template."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from common.models.tiny_generators import EDIT_ENCODE_TEMPLATE, EDIT_IMAGE_TEMPLATE
from common.models.tokenizer import CHAT_TEMPLATE, build_tokenizer, special_token_ids
from common.models.vocabulary import (
    FORMAT_TAGS,
    SPECIAL_TOKENS,
    TEMPLATE_WORDS,
    all_words,
    canonical_text,
    oov_words,
    vocabulary_fingerprint,
    world_words,
)
from common.world.vocab import COLORS, SHAPES

TOKENIZER = build_tokenizer()
WORDS = all_words()


def test_every_word_is_one_token_and_ids_are_stable() -> None:
    vocab = TOKENIZER.get_vocab()
    assert len(TOKENIZER) == len(vocab) == len(WORDS) + len(SPECIAL_TOKENS)
    for word in [*WORDS, *SPECIAL_TOKENS]:
        assert word in vocab, word
    assert TOKENIZER.convert_tokens_to_ids("<unk>") == 0
    assert TOKENIZER.convert_tokens_to_ids("<|endoftext|>") == 1  # never 2 (CLIP legacy pooling)
    assert build_tokenizer().get_vocab() == vocab  # deterministic training
    assert len(vocabulary_fingerprint()) == 12


def test_world_and_template_words_are_covered() -> None:
    assert not oov_words(" ".join(world_words()))
    assert not oov_words(list(TEMPLATE_WORDS))
    for word in (
        "rate",
        "score",
        "image",
        "prompt",
        "edit",
        "instruction",
        "consistency",
        "execution",
        "quality",
    ):
        assert word in WORDS
    assert not oov_words(
        EDIT_ENCODE_TEMPLATE.format(EDIT_IMAGE_TEMPLATE.format(1) + "make the red circle blue")
    )
    assert oov_words("a zorblax circle") == ["zorblax"]


def test_numbers_punctuation_and_tags_split_as_documented() -> None:
    text = "<think>A red circle, left of 2 blue squares; score 7.5!</think><answer>7</answer>"
    tokens = TOKENIZER.convert_ids_to_tokens(TOKENIZER(text).input_ids)
    assert tokens == [
        "<think>", "a", "red", "circle", ",", "left", "of", "2", "blue", "squares", ";",
        "score", "7.5", "!", "</think>", "<answer>", "7", "</answer>",
    ]  # fmt: skip
    for number in ("0", "10", "100", "0.5", "9.9", "2.25", "7.75"):
        assert TOKENIZER.convert_ids_to_tokens(TOKENIZER(number).input_ids) == [number]


def test_unknown_words_map_to_unk_without_error() -> None:
    ids = TOKENIZER("a zorblax ??? circle").input_ids
    assert ids[1] == TOKENIZER.unk_token_id
    assert TOKENIZER.decode(ids, skip_special_tokens=True) == "a ? ? ? circle"


def test_decode_keeps_spaces_before_punctuation_and_format_tags() -> None:
    text = "<think> two red circles , one blue star . </think> <answer> 4.5 </answer>"
    ids = TOKENIZER(text).input_ids
    assert TOKENIZER.decode(ids) == text
    assert TOKENIZER.decode(ids, skip_special_tokens=True) == text  # format tags are not special
    assert TOKENIZER.batch_decode([ids, ids]) == [text, text]


@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=30))
def test_round_trip_of_any_word_sequence(words: list[str]) -> None:
    text = " ".join(words)
    assert TOKENIZER.decode(TOKENIZER(text).input_ids) == text


@given(
    st.lists(
        st.tuples(
            st.sampled_from([*SHAPES, *COLORS, ",", ".", "?", "7.5", "<think>", "</answer>", "Left", "OF"]),
            st.sampled_from([" ", "  ", "\n", "\t"]),
        ),
        max_size=20,
    )
)
def test_decode_returns_canonical_text(pieces: list[tuple[str, str]]) -> None:
    # irregular whitespace and case; punctuation glued to the word before it
    raw = "".join(word if word in ",.?" else sep + word for word, sep in pieces)
    assert TOKENIZER.decode(TOKENIZER(raw).input_ids) == canonical_text(raw)


def test_chat_template_produces_qwen_vl_layout() -> None:
    messages = [
        {"role": "system", "content": "you are a judge ."},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "rate the image"}]},
    ]
    text = TOKENIZER.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|im_start|>system\nyou are a judge .<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>rate the image<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert TOKENIZER.chat_template == CHAT_TEMPLATE
    tokens = TOKENIZER.convert_ids_to_tokens(TOKENIZER(text).input_ids)
    assert tokens[:3] == ["<|im_start|>", "system", "you"]
    assert tokens[-2:] == ["<|im_start|>", "assistant"]
    assert "<unk>" not in tokens


def test_special_token_ids_and_padding_sides() -> None:
    ids = special_token_ids(TOKENIZER)
    assert ids["eos_token_id"] == TOKENIZER.convert_tokens_to_ids("<|im_end|>")
    assert TOKENIZER.padding_side == "left"
    batch = TOKENIZER(["a", "a red circle"], padding=True)
    assert batch["attention_mask"][0][0] == 0
    assert all(tag in TOKENIZER.get_vocab() for tag in FORMAT_TAGS)
    clip_tok = build_tokenizer(padding_side="right", add_eos=True)
    ids_eos = clip_tok(["a red circle", "a"], padding=True).input_ids
    assert ids_eos[0][-1] == 1 and ids_eos[1][1:] == [1, 1, 1]


def test_save_and_reload(tmp_path) -> None:
    from transformers import AutoTokenizer

    TOKENIZER.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "<think> a red circle , 3 </think>"
    assert loaded(text).input_ids == TOKENIZER(text).input_ids
    assert loaded.decode(loaded(text).input_ids) == text
    assert loaded.chat_template == CHAT_TEMPLATE
