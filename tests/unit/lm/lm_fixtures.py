"""Tiny tokenizers and randomly initialized causal language models for the ``sgdllm.lm`` tests.

Nothing here downloads anything: models are built from ``transformers`` config classes, with
explicit seeds. The three tokenizer kinds that cover the three adapters of
:mod:`sgdllm.lm.adapters` live in the package, :mod:`sgdllm.lm.toy_tokenizers`, so that the
tests and the book's *Tokenization* chapter use one version; they are re-exported here:

* :func:`digit_tokenizer` -- one token per digit and one for ``","`` (LLaMA-2 / Mistral / Qwen
  style, and the embedded default model), with a BOS token ``<s>``;
* :func:`bpe_tokenizer` -- a GPT-2-like byte-level BPE trained on number strings, so that
  it merges digits (``"523"`` -> fewer than 3 tokens) while ``" 5 2 3 ,"`` stays one token per
  digit (LLMTime's spaced format, Gruver et al. 2023); no BOS, as GPT-2;
* :func:`number_tokenizer` -- single tokens for every 1-, 2- and 3-digit string (LLaMA-3 / GPT-4
  style), with a pre-tokenizer that cuts numbers into chunks of at most 3 digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from sgdllm.lm.toy_tokenizers import (
    DIGITS,
    bpe_tokenizer,
    digit_tokenizer,
    number_tokenizer,
)

__all__ = [
    "DIGITS",
    "bpe_tokenizer",
    "brute_force_laws",
    "digit_tokenizer",
    "number_tokenizer",
    "random_states",
    "save_pair",
    "tiny_gpt2",
    "tiny_llama",
    "tiny_pair",
]


def _sharpen(model: PreTrainedModel, scale: float) -> PreTrainedModel:
    """Scale all weights so that a random model's outputs depend strongly on the context.

    With the default 0.02 initialization, random models predict nearly uniform laws and an
    attention bug could hide below the test tolerance; larger weights make every key count.
    """
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2 and "norm" not in name and "ln_" not in name:
                p.mul_(scale)
    return model.eval()


def tiny_gpt2(
    vocab_size: int,
    *,
    seed: int = 0,
    n_positions: int = 128,
    n_embd: int = 32,
    n_layer: int = 2,
    n_head: int = 2,
    sharpen: float = 20.0,
    **kwargs,
) -> GPT2LMHeadModel:
    """A randomly initialized GPT-2 (learned absolute positions), seeded."""
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        **kwargs,
    )
    return _sharpen(GPT2LMHeadModel(config), sharpen)


def tiny_llama(
    vocab_size: int,
    *,
    seed: int = 0,
    max_position_embeddings: int = 128,
    sharpen: float = 20.0,
) -> LlamaForCausalLM:
    """A randomly initialized LLaMA (rotary positions, grouped-query attention), seeded."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=0,
        eos_token_id=1,
    )
    return _sharpen(LlamaForCausalLM(config), sharpen)


def tiny_pair(kind: str, *, seed: int = 0, n_positions: int = 128):
    """(model, tokenizer) for ``kind`` in ``{"digit", "bpe", "number"}``."""
    if kind in ("digit", "bpe"):
        tok = digit_tokenizer() if kind == "digit" else bpe_tokenizer(seed=seed)
        ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}
        return tiny_gpt2(len(tok), seed=seed, n_positions=n_positions, **ids), tok
    if kind == "number":
        tok = number_tokenizer()
        return tiny_llama(len(tok), seed=seed, max_position_embeddings=n_positions), tok
    raise ValueError(f"unknown tokenizer kind {kind!r}; use 'digit', 'bpe' or 'number'")


def save_pair(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, path: Path) -> Path:
    """Save a model and its tokenizer in standard Hugging Face format under ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def random_states(n: int, digits: int, *, seed: int = 0) -> np.ndarray:
    """A seeded random walk on the states ``150..850`` (scaled to ``digits``), shape ``(n,)``."""
    rng = np.random.default_rng(seed)
    k = 10**digits
    lo, hi = int(0.15 * k), int(0.85 * k)
    walk = lo + (hi - lo) // 2 + np.cumsum(rng.integers(-max(k // 20, 1), max(k // 20, 1) + 1, n))
    return np.clip(walk, lo, hi).astype(np.int64)


def brute_force_laws(lm, states: np.ndarray, digits: int) -> np.ndarray:
    """Naive scoring of every continuation, without any cache: the reference for exactness.

    For each ``t`` and each value ``v``, the sequence ``prefix + values 0..t + v`` goes through
    the model in full; ``P(v)`` is the product over the levels of ``v`` of the softmax restricted
    to that level's token ids (Liu et al. 2024's digit-restricted law). All ``T x K`` sequences
    go in one batch, right-padded to a common length (causal attention never looks right, so
    the padding changes nothing before it). Shape ``(T, 10**digits)``.
    """
    from sgdllm.lm.adapters import symbols

    adapter = lm.adapter_for(digits)
    k, levels, n = 10**digits, adapter.levels, len(states)
    sym = symbols(np.arange(k), adapter.radices)  # (K, levels)
    tokens = np.stack([np.asarray(ids)[sym[:, j]] for j, ids in enumerate(adapter.level_ids)], 1)
    prefixes = [adapter.encode(np.asarray(states[: t + 1])).ids for t in range(n)]
    length = max(p.size for p in prefixes) + levels
    seqs = np.full((n, k, length), adapter.sep_ids[0], dtype=np.int64)
    for t, prefix in enumerate(prefixes):
        seqs[t, :, : prefix.size] = prefix
        seqs[t, :, prefix.size : prefix.size + levels] = tokens
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.as_tensor(seqs.reshape(n * k, length))).logits
    logits = logits.reshape(n, k, length, -1).double()
    logp = np.zeros((n, k))
    for t, prefix in enumerate(prefixes):
        for level, ids in enumerate(adapter.level_ids):
            row = logits[t, :, prefix.size - 1 + level, list(ids)]
            lp = torch.log_softmax(row, dim=-1).numpy()
            logp[t] += lp[np.arange(k), sym[:, level]]
    return np.exp(logp)


def tiny_lms() -> dict:
    """One wrapped tiny model of each tokenizer kind the Hierarchy-PDF tests cover, by kind:
    ``digit``, ``bpe`` and ``number`` (GPT-2 and LLaMA pairs) and ``digit-llama``."""
    from sgdllm.lm.load import wrap_model

    out = {kind: wrap_model(*tiny_pair(kind)) for kind in ("digit", "bpe", "number")}
    tok = digit_tokenizer()
    out["digit-llama"] = wrap_model(tiny_llama(len(tok), seed=2), tok)
    return out
