"""Pretraining of the default model: a small GPT-2 on serialized random Markov processes.

Chapter: *The default language model*.

The model is trained as a plain-PyTorch module, :class:`DigitGPT`, with exactly the
parameters of ``transformers.GPT2LMHeadModel`` (pre-LayerNorm blocks, learned absolute
positions, ``gelu_new`` MLP, tied input/output embeddings); :func:`save_pretrained` converts
them to GPT-2's layout (its ``Conv1D`` layers store weights as ``(in, out)``, the transpose of
``nn.Linear``) and writes a directory that ``AutoModelForCausalLM.from_pretrained`` and
``AutoTokenizer.from_pretrained`` load. Training the plain module is about 3 times faster on
a CPU than training the ``transformers`` class.

Data (generated on the fly, :func:`make_batch`): series of the training families of
:mod:`sgdllm.processes` (never SGD), each rescaled by its own min/max exactly as the book does
and written with 2 digits (85% of batches) or 3 digits (15%), ``"<s>523,541,538,..."``.
Nine sequences in ten are one series that fills the context (341 values at 2 digits, 256 at
3); the rest pack several shorter series (10 to ``T_max`` values,
log-uniform), each with its own ``<s>`` and its own scaler, so that short inputs rescaled to
fill ``[0.15, 0.85]`` are in-distribution too. The loss is the next-token cross-entropy on
every position.

Recipe (:class:`TrainConfig`): AdamW (betas 0.9/0.95, weight decay 0.05 on matrices), linear
warmup then cosine decay to 5% *of the wall-clock budget* (the run adapts to the speed of the
machine), gradient clipping at 1, bfloat16 autocast on the CPU, a fixed seed for the weights and
the data stream. Checkpoints are written atomically every few minutes, so an interrupted run
keeps its last good model.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..discretize import discretize
from ..processes import TRAIN_WEIGHTS, random_train_process
from .tokenizer import BOS_ID, PAD_ID, VOCAB, build_digit_tokenizer, encode_states

__all__ = [
    "DigitGPT",
    "ModelSpec",
    "TrainConfig",
    "gpt2_config",
    "load_digit_gpt",
    "main",
    "make_batch",
    "max_values",
    "save_pretrained",
    "to_gpt2_state_dict",
    "train",
]

#: Positions of the shipped model.
N_POSITIONS = 1024


def max_values(digits: int, n_positions: int = N_POSITIONS) -> int:
    """Most values whose text ``<s>v,v,...,`` fits in ``n_positions`` tokens (341 / 255)."""
    return (n_positions - 1) // (digits + 1)


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ModelSpec:
    """Shape of a :class:`DigitGPT` (GPT-2 names: ``n_embd``, ``n_layer``, ``n_head``)."""

    n_embd: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_positions: int = N_POSITIONS
    vocab_size: int = len(VOCAB)


class _Block(nn.Module):
    """Pre-LN transformer block with GPT-2's parameter names (``nn.Linear`` weights)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        d = spec.n_embd
        self.n_head = spec.n_head
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class DigitGPT(nn.Module):
    """GPT-2 decoder in plain PyTorch, parameter for parameter ``GPT2LMHeadModel``.

    ``forward(ids (B, T)) -> logits (B, T, vocab)``; see :func:`to_gpt2_state_dict`.
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if spec.n_embd % spec.n_head:
            raise ValueError(f"n_embd={spec.n_embd} must be a multiple of n_head={spec.n_head}")
        self.spec = spec
        self.wte = nn.Embedding(spec.vocab_size, spec.n_embd)
        self.wpe = nn.Embedding(spec.n_positions, spec.n_embd)
        self.h = nn.ModuleList(_Block(spec) for _ in range(spec.n_layer))
        self.ln_f = nn.LayerNorm(spec.n_embd, eps=1e-5)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif ".ln_" in name or name.startswith("ln_f"):
                nn.init.ones_(p)
            elif name.endswith(("c_proj.weight", "mlp_proj.weight")):
                # GPT-2's scaled init of the residual projections
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * spec.n_layer))
            else:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.wte(ids) + self.wpe(pos)[None]
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def gpt2_config(spec: ModelSpec):  # -> transformers.GPT2Config
    """The ``transformers.GPT2Config`` of a :class:`ModelSpec` (no dropout, tied embeddings)."""
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=spec.vocab_size,
        n_positions=spec.n_positions,
        n_embd=spec.n_embd,
        n_layer=spec.n_layer,
        n_head=spec.n_head,
        n_inner=4 * spec.n_embd,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
        initializer_range=0.02,
        bos_token_id=BOS_ID,
        eos_token_id=BOS_ID,
        pad_token_id=PAD_ID,
        tie_word_embeddings=True,
        architectures=["GPT2LMHeadModel"],
    )


def to_gpt2_state_dict(model: DigitGPT) -> dict[str, torch.Tensor]:
    """Parameters under ``GPT2LMHeadModel`` names, linear weights transposed for ``Conv1D``.

    The tied ``lm_head.weight`` is left out (``transformers`` ties it to ``wte`` on load).
    """
    out: dict[str, torch.Tensor] = {}
    rename = {"mlp_proj": "mlp.c_proj", "c_fc": "mlp.c_fc", "c_attn": "attn.c_attn"}
    for name, p in model.state_dict().items():
        t = p.detach().float().cpu()
        parts = name.split(".")
        if parts[0] == "h":
            layer, mod, kind = parts[1], parts[2], parts[3]
            mod = rename.get(mod, "attn.c_proj" if mod == "c_proj" else mod)
            if kind == "weight" and not mod.startswith("ln_"):
                t = t.T
            name = f"h.{layer}.{mod}.{kind}"
        out[f"transformer.{name}"] = t.contiguous()
    return out


def _from_gpt2_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`to_gpt2_state_dict`."""
    back = {"mlp.c_proj": "mlp_proj", "mlp.c_fc": "c_fc", "attn.c_attn": "c_attn"}
    out = {}
    for name, t in sd.items():
        if name == "lm_head.weight":
            continue
        name = name.removeprefix("transformer.")
        parts = name.split(".")
        if parts[0] == "h":
            layer, kind = parts[1], parts[-1]
            mod = ".".join(parts[2:-1])
            mod = back.get(mod, "c_proj" if mod == "attn.c_proj" else mod)
            if kind == "weight" and not mod.startswith("ln_"):
                t = t.T
            name = f"h.{layer}.{mod}.{kind}"
        out[name] = t.contiguous()
    return out


def load_digit_gpt(path: str | os.PathLike) -> DigitGPT:
    """Load a saved directory back into a :class:`DigitGPT` (for training or fast scoring)."""
    from safetensors.torch import load_file

    path = Path(path)
    cfg = json.loads((path / "config.json").read_text())
    spec = ModelSpec(
        cfg["n_embd"], cfg["n_layer"], cfg["n_head"], cfg["n_positions"], cfg["vocab_size"]
    )
    model = DigitGPT(spec)
    model.load_state_dict(_from_gpt2_state_dict(load_file(path / "model.safetensors")))
    return model.eval()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_pretrained(model: DigitGPT, out: str | os.PathLike, info: dict | None = None) -> Path:
    """Write ``config.json``, ``model.safetensors``, the tokenizer and ``training.json``.

    Every file is replaced atomically (written aside, then renamed), so a reader never sees a
    half-written file; ``model.safetensors`` is written last of the model files.
    """
    from safetensors.torch import save

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".save.") as tmp:
        gpt2_config(model.spec).save_pretrained(tmp)
        build_digit_tokenizer().save_pretrained(tmp)
        for f in sorted(Path(tmp).iterdir()):
            _atomic_write_bytes(out / f.name, f.read_bytes())
    weights = save(to_gpt2_state_dict(model), metadata={"format": "pt"})
    _atomic_write_bytes(out / "model.safetensors", weights)
    if info is not None:
        _atomic_write_bytes(out / "training.json", (json.dumps(info, indent=2) + "\n").encode())
    return out


# ----------------------------------------------------------------------------- data


def _series_tokens(rng: np.random.Generator, n_values: int, digits: int) -> np.ndarray:
    """``<s>`` + one random training series of ``n_values`` values, whole-series rescaled."""
    values = random_train_process(rng).sample(n_values, rng)
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
) -> torch.Tensor:
    """A batch of ``(batch, n_tokens)`` token ids of training series.

    Each row is one series of ``ceil((n_tokens - 1) / (digits + 1))`` values cut to
    ``n_tokens`` tokens, or (probability ``pack_prob``) several series of log-uniform lengths
    in ``[min_values, T_max]`` concatenated, each with its ``<s>``, cut to ``n_tokens``.
    """
    t_max = math.ceil((n_tokens - 1) / (digits + 1))
    out = np.empty((batch, n_tokens), dtype=np.int64)
    for i in range(batch):
        if rng.uniform() < pack_prob:
            parts, total = [], 0
            while total < n_tokens:
                n = int(np.exp(rng.uniform(np.log(min_values), np.log(max(t_max, min_values)))))
                parts.append(_series_tokens(rng, n, digits))
                total += parts[-1].size
            row = np.concatenate(parts)
        else:
            row = _series_tokens(rng, t_max, digits)
        out[i] = row[:n_tokens]
    return torch.from_numpy(out)


# ----------------------------------------------------------------------------- training


@dataclass
class TrainConfig:
    """Recipe of :func:`train` (defaults: the shipped model)."""

    spec: ModelSpec = field(default_factory=ModelSpec)
    minutes: float = 80.0
    seed: int = 0
    batch: int = 12
    lr: float = 1.5e-3
    min_lr_frac: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    p_three_digits: float = 0.15
    pack_prob: float = 0.1
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
    return {d: make_batch(rng, cfg.n_val, d, cfg.seq_tokens, pack_prob=0.0) for d in (2, 3)}


@torch.no_grad()
def _validate(model: DigitGPT, val: dict[int, torch.Tensor], bf16: bool) -> dict[str, float]:
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
    """Pretrain a :class:`DigitGPT` and save it to ``out`` (see the module docstring).

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
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, min(cfg.threads, os.cpu_count() or 1)))
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = DigitGPT(cfg.spec)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("wpe")]
    other = [
        p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith("wpe"))
    ]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )
    val = _validation_sets(cfg)
    budget = 60.0 * cfg.minutes
    info = {
        "recipe": {**asdict(cfg), "spec": asdict(cfg.spec)},
        "train_families": TRAIN_WEIGHTS,
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
        ids = make_batch(rng, cfg.batch, digits, cfg.seq_tokens, pack_prob=cfg.pack_prob)
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


def main(
    out: str, minutes: float | None = None, seed: int = 0, smoke: bool = False, **overrides
) -> dict:
    """Entry point of ``sgdllm pretrain`` (see :mod:`sgdllm.cli`)."""
    cfg = TrainConfig.smoke(seed) if smoke else TrainConfig(seed=seed)
    if minutes is not None:
        cfg.minutes = float(minutes)
    spec_keys = {"n_embd", "n_layer", "n_head"}
    spec_over = {k: v for k, v in overrides.items() if k in spec_keys and v is not None}
    if spec_over:
        cfg.spec = ModelSpec(**{**asdict(cfg.spec), **spec_over})
    for k, v in overrides.items():
        if k not in spec_keys and v is not None:
            setattr(cfg, k, v)
    return train(out, cfg)
