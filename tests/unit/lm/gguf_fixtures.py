"""Tiny GGUF files for the tests, written with the ``gguf`` package's GGUFWriter.

:func:`write_tiny_llama_gguf` writes a 2-layer LLaMA (hidden size 32) with a digit tokenizer
(byte-level BPE without merges over ``<s>``, ``</s>``, ``0``..``9`` and ``,``: one token per
digit, as SmolLM2's), some tensors quantized to Q8_0 and Q4_0 so that loading it dequantizes,
in well under a second. Seeded; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["TOKENS", "write_tiny_llama_gguf"]

#: The vocabulary of the tiny models: BOS, EOS, the ten digits and the comma.
TOKENS = ["<s>", "</s>", *"0123456789", ","]


def write_tiny_llama_gguf(
    path: Path,
    *,
    seed: int = 0,
    hidden: int = 32,
    ffn: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    context: int = 128,
    scale: float = 0.5,
) -> Path:
    """Write a random tiny LLaMA with a digit tokenizer as a GGUF file at ``path``."""
    import gguf

    rng = np.random.default_rng(seed)
    vocab = len(TOKENS)
    head_dim = hidden // heads

    def w(*shape: int) -> np.ndarray:
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("sgdllm tiny llama")
    writer.add_context_length(context)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(TOKENS)
    writer.add_token_types([3, 3] + [1] * (vocab - 2))  # 3: control, 1: normal
    writer.add_token_scores([0.0] * vocab)  # no merges: derived from the vocabulary, none
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    writer.add_add_bos_token(True)

    def add(name: str, array: np.ndarray, kind: gguf.GGMLQuantizationType) -> None:
        if kind == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(name, array)
        else:
            writer.add_tensor(name, gguf.quants.quantize(array, kind), raw_dtype=kind)

    q8, q4, f32 = (
        gguf.GGMLQuantizationType.Q8_0,
        gguf.GGMLQuantizationType.Q4_0,
        gguf.GGMLQuantizationType.F32,
    )
    add("token_embd.weight", w(vocab, hidden), q8)
    for i in range(layers):
        add(f"blk.{i}.attn_norm.weight", 1 + 0.1 * w(hidden), f32)
        add(f"blk.{i}.attn_q.weight", w(hidden, hidden), q8)
        add(f"blk.{i}.attn_k.weight", w(kv_heads * head_dim, hidden), q8)
        add(f"blk.{i}.attn_v.weight", w(kv_heads * head_dim, hidden), q4)
        add(f"blk.{i}.attn_output.weight", w(hidden, hidden), q4)
        add(f"blk.{i}.ffn_norm.weight", 1 + 0.1 * w(hidden), f32)
        add(f"blk.{i}.ffn_gate.weight", w(ffn, hidden), q8)
        add(f"blk.{i}.ffn_up.weight", w(ffn, hidden), q4)
        add(f"blk.{i}.ffn_down.weight", w(hidden, ffn), q8)
    add("output_norm.weight", 1 + 0.1 * w(hidden), f32)
    add("output.weight", w(vocab, hidden), f32)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
