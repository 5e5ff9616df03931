"""Prefill of a small decoder-only transformer (random weights, plain torch): the launch-overhead study's workload.

    python -m lowprof.workloads.prefill --batch 8 --seq 128 [--layers 4 --hidden 256 --heads 4 --vocab 8192]
                                        [--device auto|cpu|cuda] [--passes 5 --warmup 2]

One pass = one forward over ``batch x seq`` tokens (embedding, ``layers`` x [RMSNorm, causal
self-attention, RMSNorm, GELU MLP], final RMSNorm, LM head), under ``torch.inference_mode``.
Each pass runs inside ``torch.profiler.record_function("pass#i")`` (warm-ups: ``warmup#i``) so a
trace groups its kernels per pass; on a GPU the pass ends with ``torch.cuda.synchronize()``.
Prints one line per pass: its latency in ms (CLOCK_MONOTONIC, includes the synchronize).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["DecoderLM", "build_model", "main"]


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Block(nn.Module):
    """Pre-norm decoder block: causal multi-head self-attention, then a 4x GELU MLP."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = RMSNorm(hidden), RMSNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden, bias=False)
        self.proj = nn.Linear(hidden, hidden, bias=False)
        self.up = nn.Linear(hidden, 4 * hidden, bias=False)
        self.down = nn.Linear(4 * hidden, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(h, dim=-1)
        q, k, v = (t.view(b, s, self.heads, h // self.heads).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, s, h))
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class DecoderLM(nn.Module):
    """Embedding, ``layers`` decoder blocks, final norm, LM head (logits over ``vocab``)."""

    def __init__(self, *, layers: int, hidden: int, heads: int, vocab: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"--hidden {hidden} is not a multiple of --heads {heads}")
        self.embed = nn.Embedding(vocab, hidden)
        self.blocks = nn.ModuleList(Block(hidden, heads) for _ in range(layers))
        self.norm = RMSNorm(hidden)
        self.head = nn.Linear(hidden, vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x))


def build_model(*, layers: int, hidden: int, heads: int, vocab: int, device: str, seed: int = 0) -> DecoderLM:
    torch.manual_seed(seed)
    return DecoderLM(layers=layers, hidden=hidden, heads=heads, vocab=vocab).to(device).eval()


def _device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"prefill: --device cuda: no CUDA device visible to torch {torch.__version__}")
    return choice


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example:\n  lowprof run --trace kernels -- python -m lowprof.workloads.prefill --batch 8")
    p.add_argument("--batch", type=int, default=1, help="sequences per pass (default: 1)")
    p.add_argument("--seq", type=int, default=128, help="tokens per sequence (default: 128)")
    p.add_argument("--layers", type=int, default=4, help="decoder blocks (default: 4)")
    p.add_argument("--hidden", type=int, default=256, help="model width (default: 256)")
    p.add_argument("--heads", type=int, default=4, help="attention heads (default: 4)")
    p.add_argument("--vocab", type=int, default=8192, help="vocabulary size (default: 8192)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: cuda if available")
    p.add_argument("--passes", type=int, default=5, help="timed passes (default: 5)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up passes before them (default: 2)")
    a = p.parse_args(argv)
    for name in ("batch", "seq", "layers", "hidden", "heads", "vocab"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(a, name)}")
    dev = _device(a.device)
    model = build_model(layers=a.layers, hidden=a.hidden, heads=a.heads, vocab=a.vocab, device=dev)
    tokens = torch.randint(0, a.vocab, (a.batch, a.seq), device=dev, generator=None)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    sync()
    print(f"prefill: device={dev} batch={a.batch} seq={a.seq} layers={a.layers} hidden={a.hidden} "
          f"heads={a.heads} vocab={a.vocab} params={sum(t.numel() for t in model.parameters())}", flush=True)
    with torch.inference_mode():
        for i in range(a.warmup + a.passes):
            label = f"warmup#{i}" if i < a.warmup else f"pass#{i - a.warmup}"
            t0 = time.monotonic_ns()
            with torch.profiler.record_function(label):
                model(tokens)
                sync()
            ms = (time.monotonic_ns() - t0) / 1e6
            print(f"prefill: {label} {ms:.3f} ms", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
