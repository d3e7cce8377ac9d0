"""Pretraining of the default model: a small LLaMA on serialized random Markov processes.

Chapter: *The embedded language model*.

The model is trained as a plain-PyTorch module, :class:`DigitLlama`, with exactly the
parameters of ``transformers.LlamaForCausalLM`` (pre-norm blocks with RMSNorm, rotary position
embeddings, SwiGLU MLP, no biases, tied input/output embeddings); :func:`save_pretrained`
writes a directory that ``AutoModelForCausalLM.from_pretrained`` and
``AutoTokenizer.from_pretrained`` load. Training the plain module is about 3 times faster on a
CPU than training the ``transformers`` class (measured on the earlier GPT-2 default).

Why LLaMA's rotary positions rather than GPT-2's learned ones: reading a transition law off a
series of digits is a local, translation-invariant computation (the next value's last digit is
the current one's shifted by a few units, wherever in the context that happens), which rotary
positions give for free and learned absolute positions must learn position by position. A
rotary model reached in 12.6M tokens the validation loss that the earlier GPT-2 default reached
after 24.6M (the model card's notes on the recipe).

Data (generated on the fly, :func:`make_batch`): series of the training families of
:mod:`sgdllm.lm.processes` (never SGD), drawn from the mixture
:data:`sgdllm.lm.processes.TRAIN_WEIGHTS`, each rescaled by its own min/max exactly as the book
does and written with 2 digits (80% of batches) or 3 digits (20%),
``"<s>523,541,538,..."``. Nine sequences in ten are one series that fills the context (341
values at 2 digits, 256 at 3); the rest pack several shorter series (10 to ``T_max`` values,
log-uniform), each with its own ``<s>`` and its own scaler, so that short inputs rescaled to
fill ``[0.15, 0.85]`` are in-distribution too. The loss is the next-token cross-entropy on
every position.

Recipe (:class:`TrainConfig`): digit embeddings initialized on a Fourier basis of the integers
modulo 10 (:func:`fourier_digit_embedding`), AdamW (betas 0.9/0.95, weight decay 0.05 on
matrices and embeddings), linear warmup then cosine decay to 5% *of the wall-clock budget*
(the run adapts to the speed of the machine), gradient clipping at 1, bfloat16 autocast on the
CPU, a fixed seed for the weights and the data stream. Checkpoints are written atomically
every few minutes, so an interrupted run keeps its last good model.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sgdllm.discretize import discretize
from sgdllm.lm.processes import TRAIN_WEIGHTS, check_mixture, random_train_process
from sgdllm.lm.tokenizer import BOS_ID, PAD_ID, VOCAB, build_digit_tokenizer, encode_states
from sgdllm.outputs import write_atomic

__all__ = [
    "DigitLlama",
    "ModelSpec",
    "TrainConfig",
    "apply_rotary",
    "fourier_digit_embedding",
    "llama_config",
    "load_digit_llama",
    "main",
    "make_batch",
    "max_values",
    "rotary_tables",
    "save_pretrained",
    "to_llama_state_dict",
    "train",
    "training_curves",
]

#: Positions of the shipped model.
N_POSITIONS = 1024
#: Epsilon of the RMSNorm layers (LLaMA's).
RMS_EPS = 1e-5


def max_values(digits: int, n_positions: int = N_POSITIONS) -> int:
    """Most values whose text ``<s>v,v,...,`` fits in ``n_positions`` tokens (341 / 255)."""
    return (n_positions - 1) // (digits + 1)


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ModelSpec:
    """Shape of a :class:`DigitLlama` (``n_embd``, ``n_layer``, ``n_head`` as in GPT-2's names).

    ``n_inner`` is the SwiGLU hidden width; ``None`` gives LLaMA's ``8/3 n_embd`` rounded to a
    multiple of 32 (352 for width 128), so that the MLP costs what a GELU MLP of width
    ``4 n_embd`` would.
    """

    n_embd: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_positions: int = N_POSITIONS
    vocab_size: int = len(VOCAB)
    n_inner: int | None = None
    rope_theta: float = 10_000.0

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2:
            raise ValueError(
                f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head} with an even "
                f"head width (rotary positions rotate pairs of coordinates)"
            )
        if self.n_inner is None:
            object.__setattr__(self, "n_inner", 32 * max(1, round(8 * self.n_embd / 3 / 32)))

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


def rotary_tables(spec: ModelSpec, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos, sin`` of rotary position embeddings (Su et al. 2021), shape ``(..., head_dim)``.

    Frequencies ``theta_i = rope_theta^(-2 i / head_dim)``, ``i < head_dim / 2``, each used
    twice (``transformers``' LLaMA convention: the first half of a head's coordinates pairs with
    the second half).
    """
    dh = spec.head_dim
    inv_freq = 1.0 / (spec.rope_theta ** (torch.arange(0, dh, 2, dtype=torch.int64).float() / dh))
    angles = positions.float()[..., None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys ``x (..., T, head_dim)`` by their positions' angles."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin


class _Attention(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        d = spec.n_embd
        self.n_head = spec.n_head
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (
            p(x).view(b, t, self.n_head, d // self.n_head).transpose(1, 2)
            for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(y.transpose(1, 2).reshape(x.shape))


class _MLP(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(spec.n_embd, spec.n_inner, bias=False)
        self.up_proj = nn.Linear(spec.n_embd, spec.n_inner, bias=False)
        self.down_proj = nn.Linear(spec.n_inner, spec.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class _Block(nn.Module):
    """Pre-norm LLaMA block with ``transformers``' parameter names."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.input_layernorm = nn.RMSNorm(spec.n_embd, eps=RMS_EPS)
        self.self_attn = _Attention(spec)
        self.post_attention_layernorm = nn.RMSNorm(spec.n_embd, eps=RMS_EPS)
        self.mlp = _MLP(spec)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


def fourier_digit_embedding(scale: float, n_embd: int) -> torch.Tensor:
    """Initial coordinates of the ten digit tokens, shape ``(10, n_embd)``.

    Digit ``d`` gets ``scale`` times ``(cos(2 pi k d / 10), k = 1..5; sin(2 pi k d / 10),
    k = 1..4; (d - 4.5) / 4.5)`` on its first ten coordinates and zeros elsewhere: the
    non-constant Fourier basis of the integers modulo 10, and their order. The next value of a
    slowly moving series is the current one shifted by a few units, modulo 10 in its last digit
    (with a carry into the digit before it); on this basis adding one modulo 10 is a rotation
    in each frequency's plane, which is how small transformers represent modular addition once
    they have learned it (Nanda et al. 2023, *Progress measures for grokking via mechanistic
    interpretability*). Starting there was measured to help a little (the model card's notes).
    """
    if n_embd < 10:
        raise ValueError(f"the Fourier digit embedding needs n_embd >= 10, got {n_embd}")
    d = torch.arange(10, dtype=torch.float64)
    cols = [torch.cos(2 * math.pi * k * d / 10) for k in range(1, 6)]
    cols += [torch.sin(2 * math.pi * k * d / 10) for k in range(1, 5)]
    cols.append((d - 4.5) / 4.5)
    out = torch.zeros(10, n_embd, dtype=torch.float64)
    out[:, :10] = scale * torch.stack(cols, dim=1)
    return out.float()


class DigitLlama(nn.Module):
    """LLaMA decoder in plain PyTorch, parameter for parameter ``LlamaForCausalLM``.

    Rotary positions, RMSNorm, SwiGLU MLP, no biases, tied input/output embeddings.
    ``forward(ids (B, T)) -> logits (B, T, vocab)``. Its ``state_dict`` keys are those of
    ``LlamaForCausalLM`` without the ``model.`` prefix (:func:`to_llama_state_dict`).

    ``fourier`` > 0 initializes the digit tokens' embeddings on
    :func:`fourier_digit_embedding` (their first ten coordinates; the others start at zero
    there and random elsewhere).
    """

    def __init__(self, spec: ModelSpec, fourier: float = 0.0) -> None:
        super().__init__()
        self.spec = spec
        self.embed_tokens = nn.Embedding(spec.vocab_size, spec.n_embd)
        self.layers = nn.ModuleList(_Block(spec) for _ in range(spec.n_layer))
        self.norm = nn.RMSNorm(spec.n_embd, eps=RMS_EPS)
        cos, sin = rotary_tables(spec, torch.arange(spec.n_positions))
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 1:  # RMSNorm gains
                nn.init.ones_(p)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                # GPT-2's scaled init of the residual projections
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * spec.n_layer))
            else:
                nn.init.normal_(p, 0.0, 0.02)
        if fourier:
            with torch.no_grad():
                self.embed_tokens.weight[:, :10] = 0.0
                self.embed_tokens.weight[:10] += fourier_digit_embedding(fourier, spec.n_embd)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(ids)
        cos, sin = self.rope_cos[: ids.shape[1]], self.rope_sin[: ids.shape[1]]
        for block in self.layers:
            x = block(x, cos, sin)
        return self.norm(x) @ self.embed_tokens.weight.T

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def llama_config(spec: ModelSpec):  # -> transformers.LlamaConfig
    """The ``transformers.LlamaConfig`` of a :class:`ModelSpec` (tied embeddings, no biases)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=spec.vocab_size,
        hidden_size=spec.n_embd,
        intermediate_size=spec.n_inner,
        num_hidden_layers=spec.n_layer,
        num_attention_heads=spec.n_head,
        num_key_value_heads=spec.n_head,
        max_position_embeddings=spec.n_positions,
        rms_norm_eps=RMS_EPS,
        rope_theta=spec.rope_theta,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        attention_dropout=0.0,
        initializer_range=0.02,
        bos_token_id=BOS_ID,
        eos_token_id=BOS_ID,
        pad_token_id=PAD_ID,
        tie_word_embeddings=True,
        architectures=["LlamaForCausalLM"],
    )


def to_llama_state_dict(model: DigitLlama) -> dict[str, torch.Tensor]:
    """Parameters under ``LlamaForCausalLM`` names (``model.`` + the plain module's names).

    The tied ``lm_head.weight`` is left out (``transformers`` ties it to the embedding on load).
    """
    return {
        f"model.{k}": v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()
    }


def load_digit_llama(path: str | os.PathLike) -> DigitLlama:
    """Load a saved directory back into a :class:`DigitLlama` (for training or fast scoring)."""
    from safetensors.torch import load_file

    path = Path(path)
    cfg = json.loads((path / "config.json").read_text())
    spec = ModelSpec(
        n_embd=cfg["hidden_size"],
        n_layer=cfg["num_hidden_layers"],
        n_head=cfg["num_attention_heads"],
        n_positions=cfg["max_position_embeddings"],
        vocab_size=cfg["vocab_size"],
        n_inner=cfg["intermediate_size"],
        rope_theta=cfg.get("rope_theta", (cfg.get("rope_parameters") or {}).get("rope_theta")),
    )
    model = DigitLlama(spec)
    weights = load_file(path / "model.safetensors")
    model.load_state_dict(
        {k.removeprefix("model."): v for k, v in weights.items() if k != "lm_head.weight"}
    )
    return model.eval()


def _write_bytes(path: Path, data: bytes) -> None:
    write_atomic(path, lambda fh: fh.write(data), fsync=True)


def save_pretrained(model: DigitLlama, out: str | os.PathLike, info: dict | None = None) -> Path:
    """Write ``config.json``, ``model.safetensors``, the tokenizer and ``training.json``.

    Every file is replaced atomically (written aside, then renamed), so a reader never sees a
    half-written file; ``model.safetensors`` is written last of the model files.
    """
    from safetensors.torch import save

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".save.") as tmp:
        llama_config(model.spec).save_pretrained(tmp)
        build_digit_tokenizer().save_pretrained(tmp)
        for f in sorted(Path(tmp).iterdir()):
            _write_bytes(out / f.name, f.read_bytes())
    weights = save(to_llama_state_dict(model), metadata={"format": "pt"})
    _write_bytes(out / "model.safetensors", weights)
    if info is not None:
        _write_bytes(out / "training.json", (json.dumps(info, indent=2) + "\n").encode())
    return out


# ----------------------------------------------------------------------------- data


def _series_tokens(
    rng: np.random.Generator, n_values: int, digits: int, mixture: Mapping[str, float] | None
) -> np.ndarray:
    """``<s>`` + one random training series of ``n_values`` values, whole-series rescaled."""
    values = random_train_process(rng, mixture).sample(n_values, rng)
    states, _ = discretize(values, digits)
    return encode_states(states, digits)


def make_batch(
    rng: np.random.Generator,
    batch: int,
    digits: int,
    n_tokens: int,
    *,
    pack_prob: float = 0.25,
    min_values: int = 10,
    mixture: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """A batch of ``(batch, n_tokens)`` token ids of training series.

    Each row is one series of ``ceil((n_tokens - 1) / (digits + 1))`` values cut to
    ``n_tokens`` tokens, or (probability ``pack_prob``) several series of log-uniform lengths
    in ``[min_values, T_max]`` concatenated, each with its ``<s>``, cut to ``n_tokens``.
    Series come from the family ``mixture`` (default
    :data:`sgdllm.lm.processes.TRAIN_WEIGHTS`).
    """
    t_max = math.ceil((n_tokens - 1) / (digits + 1))
    out = np.empty((batch, n_tokens), dtype=np.int64)
    for i in range(batch):
        if rng.uniform() < pack_prob:
            parts, total = [], 0
            while total < n_tokens:
                n = int(np.exp(rng.uniform(np.log(min_values), np.log(max(t_max, min_values)))))
                parts.append(_series_tokens(rng, n, digits, mixture))
                total += parts[-1].size
            row = np.concatenate(parts)
        else:
            row = _series_tokens(rng, t_max, digits, mixture)
        out[i] = row[:n_tokens]
    return torch.from_numpy(out)


# ----------------------------------------------------------------------------- training


@dataclass
class TrainConfig:
    """Recipe of :func:`train` (defaults: the shipped model)."""

    spec: ModelSpec = field(default_factory=ModelSpec)
    minutes: float = 88.0
    seed: int = 0
    batch: int = 12
    lr: float = 1.5e-3
    min_lr_frac: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    p_three_digits: float = 0.2
    pack_prob: float = 0.1
    fourier: float = 0.1
    mixture: dict[str, float] = field(default_factory=lambda: dict(TRAIN_WEIGHTS))
    bf16: bool = True
    threads: int = 2
    log_every: int = 25
    val_every: int = 250
    ckpt_minutes: float = 5.0
    n_val: int = 16
    seq_tokens: int = N_POSITIONS + 1
    max_steps: int | None = None

    @classmethod
    def smoke(cls, seed: int = 0) -> TrainConfig:
        """A tiny model trained for 12 steps on short sequences (a few seconds; tests).

        Checkpoints after every step (``ckpt_minutes=0``) to exercise the atomic saves.
        """
        return cls(
            spec=ModelSpec(n_embd=32, n_layer=2, n_head=2),
            minutes=1.0,
            seed=seed,
            batch=4,
            warmup_steps=4,
            log_every=2,
            val_every=4,
            ckpt_minutes=0.0,
            n_val=2,
            seq_tokens=129,
            max_steps=12,
        )


def _lr(cfg: TrainConfig, step: int, frac: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    cos = 0.5 * (1.0 + math.cos(math.pi * min(max(frac, 0.0), 1.0)))
    return cfg.lr * (cfg.min_lr_frac + (1.0 - cfg.min_lr_frac) * cos)


def _validation_sets(cfg: TrainConfig) -> dict[int, torch.Tensor]:
    """Fixed validation batches (seed ``10_000 + seed``), one per digits setting."""
    rng = np.random.default_rng(10_000 + cfg.seed)
    return {
        d: make_batch(rng, cfg.n_val, d, cfg.seq_tokens, pack_prob=0.0, mixture=cfg.mixture)
        for d in (2, 3)
    }


@torch.no_grad()
def _validate(model: DigitLlama, val: dict[int, torch.Tensor], bf16: bool) -> dict[str, float]:
    """Mean next-token loss per digits setting, and NLL per value over the last 100 values."""
    model.eval()
    rec: dict[str, float] = {}
    for d, ids in val.items():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(ids[:, :-1])
        ce = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
        ).view(ids.shape[0], -1)
        rec[f"val_loss_{d}d"] = round(float(ce.mean()), 5)
        n_vals = (ce.shape[1]) // (d + 1)
        per_value = ce[:, : n_vals * (d + 1)].reshape(ce.shape[0], n_vals, d + 1).sum(-1)
        rec[f"val_nll_value_last100_{d}d"] = round(float(per_value[:, -100:].mean()), 4)
    model.train()
    return rec


def train(out: str | os.PathLike, cfg: TrainConfig | None = None) -> dict:
    """Pretrain a :class:`DigitLlama` and save it to ``out`` (see the module docstring).

    Logs one JSON line per ``log_every`` steps to ``out/train_log.jsonl`` (step, tokens, time,
    lr, loss and, every ``val_every`` steps, validation losses), checkpoints every
    ``ckpt_minutes``, and saves the final model. Returns the summary written to
    ``out/training.json``.
    """
    cfg = cfg or TrainConfig()
    for name, flag in (("p_three_digits", "--three-digits"), ("pack_prob", "--pack-prob")):
        v = getattr(cfg, name)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name}={v} ({flag}) is a probability: give a value in [0, 1]")
    check_mixture(cfg.mixture)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, min(cfg.threads, os.cpu_count() or 1)))
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = DigitLlama(cfg.spec, fourier=cfg.fourier)
    decay = [p for p in model.parameters() if p.dim() >= 2]  # matrices and the embedding
    other = [p for p in model.parameters() if p.dim() < 2]  # RMSNorm gains
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )
    val = _validation_sets(cfg)
    budget = 60.0 * cfg.minutes
    info = {
        "recipe": {**asdict(cfg), "spec": asdict(cfg.spec)},
        "train_families": cfg.mixture,
        "n_params": model.n_params(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    log_path = out / "train_log.jsonl"
    log = log_path.open("w")

    def emit(rec: dict) -> None:
        log.write(json.dumps(rec) + "\n")
        log.flush()
        print(json.dumps(rec), flush=True)

    emit({"event": "start", "n_params": model.n_params(), "spec": asdict(cfg.spec)})
    t0 = time.time()
    last_ckpt = t0
    step = tokens = 0
    ema = None
    while True:
        elapsed = time.time() - t0
        if elapsed >= budget or (cfg.max_steps is not None and step >= cfg.max_steps):
            break
        lr = _lr(cfg, step, elapsed / budget)
        for g in opt.param_groups:
            g["lr"] = lr
        digits = 3 if rng.uniform() < cfg.p_three_digits else 2
        ids = make_batch(
            rng, cfg.batch, digits, cfg.seq_tokens, pack_prob=cfg.pack_prob, mixture=cfg.mixture
        )
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        tokens += ids[:, 1:].numel()
        lv = loss.item()
        ema = lv if ema is None else 0.98 * ema + 0.02 * lv
        if step % cfg.log_every == 0:
            now = time.time() - t0
            rec = {
                "step": step,
                "tokens": tokens,
                "time": round(now, 1),
                "tok_per_s": round(tokens / max(now, 1e-9)),
                "lr": round(lr, 6),
                "loss": round(lv, 5),
                "loss_ema": round(ema, 5),
            }
            if step % cfg.val_every == 0:
                rec.update(_validate(model, val, cfg.bf16))
            emit(rec)
        if time.time() - last_ckpt >= 60.0 * cfg.ckpt_minutes:
            save_pretrained(
                model,
                out,
                {
                    **info,
                    "status": "checkpoint",
                    "steps": step,
                    "tokens": tokens,
                    "wall_s": round(time.time() - t0, 1),
                },
            )
            last_ckpt = time.time()
    wall = time.time() - t0
    final = _validate(model, val, cfg.bf16)
    summary = {
        **info,
        "status": "done",
        "steps": step,
        "tokens": tokens,
        "wall_s": round(wall, 1),
        "tok_per_s": round(tokens / max(wall, 1e-9)),
        "train_loss_ema": ema,
        **final,
    }
    emit({"event": "done", "step": step, "tokens": tokens, "time": round(wall, 1), **final})
    log.close()
    save_pretrained(model, out, summary)
    return summary


def training_curves(model_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """The learning curves of a trained model, read from its ``train_log.jsonl``.

    Returns ``{"tokens", "loss_ema"}`` at every logged step and ``{"val_tokens",
    "val_loss_2d", "val_loss_3d"}`` at every validation (next-token cross-entropy in nats per
    token on the fixed validation texts, 2 and 3 digits), as float arrays.
    """
    path = Path(model_dir) / "train_log.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass a directory written by sgdllm pretrain")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    steps = [r for r in rows if "loss_ema" in r]
    vals = [r for r in rows if "val_loss_2d" in r and "tokens" in r]
    return {
        "tokens": np.array([r["tokens"] for r in steps], dtype=np.float64),
        "loss_ema": np.array([r["loss_ema"] for r in steps], dtype=np.float64),
        "val_tokens": np.array([r["tokens"] for r in vals], dtype=np.float64),
        "val_loss_2d": np.array([r["val_loss_2d"] for r in vals], dtype=np.float64),
        "val_loss_3d": np.array([r["val_loss_3d"] for r in vals], dtype=np.float64),
    }


#: Command-line options of ``sgdllm pretrain`` by the keyword ``main`` receives them as.
_FLAGS = {
    "n_embd": "--width",
    "n_layer": "--layers",
    "n_head": "--heads",
    "batch": "--batch",
    "p_three_digits": "--three-digits",
    "pack_prob": "--pack-prob",
    "fourier": "--fourier",
}


def _check_cli_args(out: str, minutes: float | None, overrides: dict) -> None:
    """Raise ``ValueError`` naming the option and the fix for a value training cannot use."""
    from sgdllm.outputs import check_output_dir

    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(
            f"--minutes {minutes} must be a positive number of minutes (the wall-clock "
            f"budget of training, e.g. --minutes 88)"
        )
    for key in ("n_embd", "n_layer", "n_head", "batch"):
        v = overrides.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{_FLAGS[key]} {v} must be a positive integer")
    for key in ("p_three_digits", "pack_prob"):
        v = overrides.get(key)
        if v is not None and not 0.0 <= v <= 1.0:
            raise ValueError(f"{_FLAGS[key]} {v} is a probability: give a value in [0, 1]")
    v = overrides.get("fourier")
    if v is not None and not (math.isfinite(v) and v >= 0):
        raise ValueError(f"--fourier {v} must be a finite scale >= 0 (0: no Fourier init)")
    check_output_dir(out, ("config.json", "model.safetensors"), option="--out")


def main(
    out: str, minutes: float | None = None, seed: int = 0, smoke: bool = False, **overrides
) -> dict:
    """Entry point of ``sgdllm pretrain`` (see :mod:`sgdllm.cli`).

    Every argument, and the output directory, is checked before the model is built: a budget
    of 0 minutes or a batch of 0 sequences would otherwise save an untrained model.
    """
    _check_cli_args(out, minutes, overrides)
    cfg = TrainConfig.smoke(seed) if smoke else TrainConfig(seed=seed)
    if minutes is not None:
        cfg.minutes = float(minutes)
    spec_keys = {"n_embd", "n_layer", "n_head"}
    spec_over = {k: v for k, v in overrides.items() if k in spec_keys and v is not None}
    if spec_over:
        # a new width gets its own SwiGLU width (n_inner is derived from n_embd)
        derived = {"n_inner": None} if "n_embd" in spec_over else {}
        cfg.spec = ModelSpec(**{**asdict(cfg.spec), **derived, **spec_over})
    for k, v in overrides.items():
        if k not in spec_keys and v is not None:
            setattr(cfg, k, v)
    return train(out, cfg)
