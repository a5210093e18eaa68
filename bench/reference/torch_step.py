#!/usr/bin/env python3
"""A real PyTorch training step of the model a tokenmeter spec describes, timed
per step and per phase, to hold tokenmeter's `train-step` against.

The model is the one tokenmeter plans (docs/workloads.md): token embedding;
per layer RMSNorm, attention with grouped-query heads and rotary embedding,
residual, RMSNorm, a gated (SiLU) or plain (GELU) FFN, residual; final norm,
output head, cross-entropy; AdamW. The spec's profile says how it is built:

  eager  as a Hugging Face style eager model runs: separate q/k/v and
         gate/up nn.Linear, RMSNorm and rotary as tensor expressions,
         attention that materialises the scores (scale, causal mask, fp32
         softmax), log-softmax + NLL, single-tensor AdamW; bf16/fp16 through
         autocast over fp32 weights (its weight casts included).
  fused  fused QKV and gate/up projections, scaled_dot_product_attention
         (flash on GPUs), the whole model under torch.compile, fused AdamW
         (CUDA) or multi-tensor (CPU). Needs PyTorch 2.0 or newer.

It measures the whole model (spec `layers_to_run` 0 or equal to `layers`), on
one device, one rank: a spec with parallelism is refused, naming the field.

Timing: `--warmup` steps, then `--timed` steps each timed on its own
(synchronised wall clock; a step is forward, backward, optimizer step and
zero_grad(set_to_none=True)); median, min and max. Phases: `--profiled`
further steps under torch.profiler; each operator's self time (device time
on a GPU, CPU time on a CPU) goes to a phase by what it is:
  gemm         aten::mm / addmm (every linear layer, the head included)
  attention    aten::bmm / baddbmm (scores and values), SDPA and flash kernels
  loss         log-softmax, NLL and cross-entropy kernels, forward and backward
  optimizer    everything under optimizer.step()
  elementwise  every other aten operator or generated kernel
  overhead     step time not inside any operator (launch gaps, Python, the
               autograd engine's own bookkeeping)
Per-phase times are the mean over the profiled steps; the profiler's own
cost shows in `profiled_step_seconds` beside the unprofiled median.

usage: torch_step.py SPEC.json [--device cpu|cuda] [--warmup N] [--timed N]
                     [--profiled N] [--threads N] [--json FILE]
Prints one JSON object (and writes it to --json FILE).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PHASES = ("gemm", "attention", "elementwise", "loss", "optimizer")


class SpecError(Exception):
    pass


def field(msg, name, default=None):
    """A protobuf-JSON field by its proto name or its lowerCamel JSON name."""
    if name in msg:
        return msg[name]
    parts = name.split("_")
    camel = parts[0] + "".join(p.title() for p in parts[1:])
    return msg.get(camel, default)


def load_spec(path):
    with open(path) as f:
        spec = json.load(f)
    step = field(spec, "train_step")
    if step is None:
        raise SpecError(f"{path}: no train_step: the reference runs train-step specs only")
    model = field(step, "model") or {}
    shape = {k: int(field(model, k, 0) or 0) for k in (
        "layers", "hidden_size", "heads", "kv_heads", "head_dim", "ffn_hidden_size",
        "vocab_size", "seq_len")}
    shape["gated_ffn"] = bool(field(model, "gated_ffn", False))
    shape["tied_embeddings"] = bool(field(model, "tied_embeddings", False))
    shape["name"] = field(model, "name", "")
    if field(model, "mla") or field(model, "moe"):
        raise SpecError("train_step.model.mla / .moe: the reference builds dense attention "
                        "and FFN models only")
    for k in ("layers", "hidden_size", "heads", "ffn_hidden_size", "vocab_size", "seq_len"):
        if shape[k] <= 0:
            raise SpecError(f"train_step.model.{k} must be > 0 (is {shape[k]})")
    if shape["kv_heads"] == 0:
        shape["kv_heads"] = shape["heads"]
    if shape["head_dim"] == 0:
        shape["head_dim"] = shape["hidden_size"] // shape["heads"]
    if shape["heads"] % shape["kv_heads"]:
        raise SpecError(f"train_step.model.heads ({shape['heads']}) must be a multiple of "
                        f"kv_heads ({shape['kv_heads']})")
    run = int(field(step, "layers_to_run", 0) or 0)
    if run not in (0, shape["layers"]):
        raise SpecError(f"train_step.layers_to_run must be 0 or model.layers ({shape['layers']}) "
                        f"for the reference (is {run}): it measures the whole model, unscaled")
    par = field(step, "parallel") or {}
    for k in ("data", "tensor", "expert"):
        if int(field(par, k, 0) or 0) > 1:
            raise SpecError(f"train_step.parallel.{k} must be at most 1 for the reference "
                            "(one device, one rank)")
    dtype = field(step, "dtype", "DTYPE_FP32")
    if dtype not in ("DTYPE_FP32", "DTYPE_TF32", "DTYPE_BF16", "DTYPE_FP16"):
        raise SpecError(f"train_step.dtype {dtype}: the reference runs fp32, tf32, bf16, fp16")
    profile = field(step, "profile", "")
    names = {"FRAMEWORK_PROFILE_EAGER": "eager", "FRAMEWORK_PROFILE_FUSED": "fused"}
    if profile not in names:
        raise SpecError("train_step.profile must be FRAMEWORK_PROFILE_EAGER or "
                        f"FRAMEWORK_PROFILE_FUSED (is {profile!r})")
    micro_batch = int(field(step, "micro_batch", 0) or 0)
    if micro_batch <= 0:
        raise SpecError(f"train_step.micro_batch must be > 0 (is {micro_batch})")
    return {"name": field(spec, "name", ""), "shape": shape, "micro_batch": micro_batch,
            "dtype": dtype, "profile": names[profile]}


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        # Hugging Face's LlamaRMSNorm: computed in fp32, cast back.
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, s, fused):
        super().__init__()
        h, self.H, self.K, self.d = s["hidden_size"], s["heads"], s["kv_heads"], s["head_dim"]
        self.fused = fused
        q, kv = self.H * self.d, self.K * self.d
        if fused:
            self.qkv = nn.Linear(h, q + 2 * kv, bias=False)
        else:
            self.q = nn.Linear(h, q, bias=False)
            self.k = nn.Linear(h, kv, bias=False)
            self.v = nn.Linear(h, kv, bias=False)
        self.o = nn.Linear(q, h, bias=False)

    def forward(self, x, cos, sin, mask):
        B, S, _ = x.shape
        if self.fused:
            q, k, v = self.qkv(x).split([self.H * self.d, self.K * self.d, self.K * self.d], -1)
        else:
            q, k, v = self.q(x), self.k(x), self.v(x)
        q = q.view(B, S, self.H, self.d).transpose(1, 2)
        k = k.view(B, S, self.K, self.d).transpose(1, 2)
        v = v.view(B, S, self.K, self.d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.H != self.K:  # grouped-query: each kv head serves H/K query heads
            rep = self.H // self.K
            k = k[:, :, None].expand(B, self.K, rep, S, self.d).reshape(B, self.H, S, self.d)
            v = v[:, :, None].expand(B, self.K, rep, S, self.d).reshape(B, self.H, S, self.d)
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.d)
            scores = scores.masked_fill(mask, float("-inf"))
            probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
            out = torch.matmul(probs, v)
        return self.o(out.transpose(1, 2).contiguous().view(B, S, self.H * self.d))


class FeedForward(nn.Module):
    def __init__(self, s, fused):
        super().__init__()
        h, f = s["hidden_size"], s["ffn_hidden_size"]
        self.gated, self.fused, self.f = s["gated_ffn"], fused, f
        if self.gated and fused:
            self.gate_up = nn.Linear(h, 2 * f, bias=False)
        elif self.gated:
            self.gate = nn.Linear(h, f, bias=False)
            self.up = nn.Linear(h, f, bias=False)
        else:
            self.up = nn.Linear(h, f, bias=False)
        self.down = nn.Linear(f, h, bias=False)

    def forward(self, x):
        if not self.gated:
            return self.down(F.gelu(self.up(x)))
        if self.fused:
            gate, up = self.gate_up(x).split([self.f, self.f], -1)
        else:
            gate, up = self.gate(x), self.up(x)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, s, fused):
        super().__init__()
        self.attn_norm = RMSNorm(s["hidden_size"])
        self.attn = Attention(s, fused)
        self.ffn_norm = RMSNorm(s["hidden_size"])
        self.ffn = FeedForward(s, fused)

    def forward(self, x, cos, sin, mask):
        x = x + self.attn(self.attn_norm(x), cos, sin, mask)
        return x + self.ffn(self.ffn_norm(x))


class Decoder(nn.Module):
    def __init__(self, s, fused):
        super().__init__()
        self.embed = nn.Embedding(s["vocab_size"], s["hidden_size"])
        self.layers = nn.ModuleList(Block(s, fused) for _ in range(s["layers"]))
        self.norm = RMSNorm(s["hidden_size"])
        self.head = nn.Linear(s["hidden_size"], s["vocab_size"], bias=False)
        if s["tied_embeddings"]:
            self.head.weight = self.embed.weight
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, std=0.02)
        d, S = s["head_dim"], s["seq_len"]
        inv = 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d))
        angles = torch.outer(torch.arange(S).float(), inv)
        angles = torch.cat((angles, angles), dim=-1)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)
        self.register_buffer("mask", torch.ones(S, S, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, tokens, targets):
        x = self.embed(tokens)
        cos, sin = self.cos.to(x.dtype), self.sin.to(x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin, self.mask)
        logits = self.head(self.norm(x))
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1))


def phase_of(name):
    """The tokenmeter phase of an operator or generated kernel, by its name."""
    n = name.lower()
    if n in ("aten::mm", "aten::addmm", "aten::_addmm_activation"):
        return "gemm"
    if (n in ("aten::bmm", "aten::baddbmm") or "scaled_dot_product" in n
            or "flash_attention" in n or "efficient_attention" in n or "cudnn_attention" in n):
        return "attention"
    if "log_softmax" in n or "nll_loss" in n or "cross_entropy" in n:
        return "loss"
    if n.startswith("aten::") or n.startswith("triton_"):
        return "elementwise"
    return None  # a wrapper: record_function ranges, autograd nodes, compiled regions


def self_time_us(event, on_gpu):
    if on_gpu:
        for attr in ("self_device_time_total", "self_cuda_time_total"):
            if hasattr(event, attr):
                return getattr(event, attr)
        return 0.0
    return event.self_cpu_time_total


def under(event, name):
    e = event.cpu_parent
    while e is not None:
        if e.name == name:
            return True
        e = e.cpu_parent
    return False


class Step:
    def __init__(self, cfg, device, threads):
        s = cfg["shape"]
        self.device = torch.device(device)
        self.on_gpu = self.device.type == "cuda"
        fused = cfg["profile"] == "fused"
        if fused and not (hasattr(torch, "compile") and hasattr(F, "scaled_dot_product_attention")):
            raise SpecError(f"the fused profile needs torch.compile and scaled_dot_product_attention "
                            f"(PyTorch 2.0+); this is PyTorch {torch.__version__}")
        torch.backends.cuda.matmul.allow_tf32 = cfg["dtype"] == "DTYPE_TF32"
        torch.backends.cudnn.allow_tf32 = cfg["dtype"] == "DTYPE_TF32"
        if cfg["dtype"] == "DTYPE_TF32" and not self.on_gpu:
            raise SpecError("train_step.dtype DTYPE_TF32 needs a GPU")
        self.autocast = {"DTYPE_BF16": torch.bfloat16, "DTYPE_FP16": torch.float16}.get(cfg["dtype"])
        torch.manual_seed(0)
        self.model = Decoder(s, fused).to(self.device)
        self.forward = torch.compile(self.model) if fused else self.model
        opts = {"lr": 1e-4, "weight_decay": 0.1}
        if fused and self.on_gpu:
            opts["fused"] = True
        elif not fused:
            opts["foreach"] = False
        self.optimizer = torch.optim.AdamW(self.model.parameters(), **opts)
        self.scaler = None
        if self.autocast == torch.float16:
            self.scaler = torch.cuda.amp.GradScaler() if self.on_gpu else None
        shape = (cfg["micro_batch"], s["seq_len"])
        self.tokens = torch.randint(0, s["vocab_size"], shape, device=self.device)
        self.targets = torch.randint(0, s["vocab_size"], shape, device=self.device)

    def sync(self):
        if self.on_gpu:
            torch.cuda.synchronize()

    def run(self):
        with torch.autocast(self.device.type, dtype=self.autocast or torch.bfloat16,
                            enabled=self.autocast is not None):
            loss = self.forward(self.tokens, self.targets)
        if self.scaler:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        with torch.profiler.record_function("tm.optimizer"):
            if self.scaler:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return loss

    def timed(self, n):
        times = []
        for _ in range(n):
            self.sync()
            t0 = time.perf_counter()
            loss = self.run()
            self.sync()
            times.append(time.perf_counter() - t0)
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"the loss is {loss.item()}: the step is not training")
        return times

    def phases(self, n):
        from torch.profiler import ProfilerActivity, profile
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.on_gpu else [])
        with profile(activities=acts) as prof:
            self.sync()
            t0 = time.perf_counter()
            for _ in range(n):
                self.run()
            self.sync()
            wall = time.perf_counter() - t0
        totals = dict.fromkeys(PHASES, 0.0)
        by_op = {}
        for e in prof.events():
            us = self_time_us(e, self.on_gpu)
            if us <= 0:
                continue
            phase = "optimizer" if under(e, "tm.optimizer") or e.name == "tm.optimizer" else phase_of(e.name)
            if phase is None:
                continue
            totals[phase] += us * 1e-6 / n
            key = (phase, e.name)
            by_op[key] = by_op.get(key, 0.0) + us * 1e-6 / n
        top = sorted(by_op.items(), key=lambda kv: -kv[1])[:25]
        return wall / n, totals, [{"phase": p, "op": o, "seconds": t} for (p, o), t in top]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--timed", type=int, default=10)
    ap.add_argument("--profiled", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0,
                    help="PyTorch's intra-op CPU threads (default: PyTorch's own default; the BLAS "
                         "library keeps its own threads, e.g. OPENBLAS_NUM_THREADS)")
    ap.add_argument("--json", help="also write the result here")
    a = ap.parse_args(argv)
    for name in ("warmup", "timed", "profiled"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be >= 1 (is {getattr(a, name)})")
    try:
        cfg = load_spec(a.spec)
        if a.device == "cpu" and a.threads:
            torch.set_num_threads(a.threads)
        step = Step(cfg, a.device, a.threads)
    except SpecError as e:
        print(f"torch_step: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    step.timed(a.warmup)
    warmup_s = time.perf_counter() - t0
    times = step.timed(a.timed)
    profiled_s, phases, top = step.phases(a.profiled)
    median = statistics.median(times)
    s = cfg["shape"]
    tokens = cfg["micro_batch"] * s["seq_len"]
    params = sum(p.numel() for p in step.model.parameters())
    result = {
        "spec": a.spec, "workload": cfg["name"], "profile": cfg["profile"],
        "dtype": cfg["dtype"], "device": str(step.device),
        "device_name": torch.cuda.get_device_name() if step.on_gpu else "cpu",
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS", ""),
        "parameters": params, "tokens_per_step": tokens,
        "warmup_seconds": warmup_s,
        "iteration_seconds": times,
        "step_seconds": {"median": median, "min": min(times), "max": max(times)},
        "tokens_per_second": tokens / median,
        "profiled_step_seconds": profiled_s,
        "phase_seconds": phases,
        "overhead_seconds": max(0.0, profiled_s - sum(phases.values())),
        "top_ops": top,
    }
    if step.on_gpu:
        result["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
    text = json.dumps(result, indent=1)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
