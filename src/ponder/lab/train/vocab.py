"""The tiny models' character vocabulary, as a Hugging Face tokenizer that any backend can load."""

from __future__ import annotations

import re
import string

from .traces import END, EOS, PAUSE, THINK

SPECIALS = ["<pad>", EOS, "<unk>", THINK, END, PAUSE]
CHARS = list(string.digits + "+-*=:., ?!'\n" + string.ascii_letters + ">")  # new characters go last: ids stay
TOKENS = SPECIALS + CHARS
IDS = {tok: i for i, tok in enumerate(TOKENS)}
SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")


def encode(text: str) -> list[int]:
    """Fast encoding for training batches; the same ids as the saved tokenizer gives."""
    ids = []
    for piece in SPECIAL_SPLIT.split(text):
        if piece in IDS and piece in SPECIALS:
            ids.append(IDS[piece])
        else:
            ids.extend(IDS.get(c, IDS["<unk>"]) for c in piece)
    return ids


def hf_tokenizer():
    """A PreTrainedTokenizerFast: one token per character, the specials whole."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(dict(IDS), unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(SPECIALS)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token=EOS, pad_token="<pad>", unk_token="<unk>",
        additional_special_tokens=[THINK, END, PAUSE],
    )
