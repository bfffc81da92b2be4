"""A tiny byte-level BPE tokenizer in the Qwen2 style, trained offline in about 0.1 s for tiny test models.

Shared by the tiny Qwen-VL builders (tiny_qwen.py) and the tiny InternVL / LLaVA-OneVision builders
(tiny_vlms.py), whose language models all use Qwen2's chat tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Target vocabulary size of the trained BPE (special tokens included).
VOCAB_TARGET = 400

# Pre-tokenizer split in the spirit of Qwen2's: letters in words (one optional leading non-letter),
# every digit alone, punctuation runs, newlines, spaces. Digits alone matter: the "logits" analysis
# mode reads the ids of "1".."5".
QWEN_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def train_bpe_tokenizer(
    corpus: Iterable[str],
    special_tokens: Iterable[str],
    *,
    chat_template: str | None = None,
    named_tokens: Mapping[str, str] | None = None,
):
    """A byte-level BPE (about VOCAB_TARGET entries) trained on `corpus`, as a PreTrainedTokenizerFast.

    special_tokens: added first, in order (their ids are 0, 1, ...). eos is "<|im_end|>", pad is
    "<|endoftext|>", padding on the left. chat_template: stored on the tokenizer when given.
    named_tokens: attribute name -> token (e.g. {"image_token": "<image>"}), passed as
    extra_special_tokens when given, for processors that look their placeholders up by name.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_TARGET,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(corpus), trainer=trainer)
    extra = {}
    if chat_template is not None:
        extra["chat_template"] = chat_template
    if named_tokens is not None:
        extra["extra_special_tokens"] = dict(named_tokens)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        model_max_length=32768,
        **extra,
    )
