#!/usr/bin/env python3
"""torch.matmul on the same shapes and layout as tokenmeter_gpu_sweep, for a
same-run comparison: C[m,n] = A[m,k] @ B[n,k].T (both operands K-contiguous,
the TN layout tokenmeter's cuBLASLt path uses). Per-iteration CUDA events
after warm-up; median and best. fp8 goes through torch._scaled_mm (bf16 out).

usage: torch_matmul.py SHAPES [--warmup N] [--timed N] [--jsonl FILE]
  SHAPES: MxNxK:dtype,...   dtype in fp32, tf32, fp16, bf16, fp8_e4m3
"""
import argparse
import json
import statistics
import sys

import torch


def run(m, n, k, dtype, warmup, timed):
    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    if dtype == "fp8_e4m3":
        a = (torch.rand(m, k, device=dev) * 2 - 1).to(torch.float8_e4m3fn)
        b = (torch.rand(n, k, device=dev) * 2 - 1).to(torch.float8_e4m3fn)
        one = torch.ones((), device=dev)
        fn = lambda: torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
    else:
        t = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
             "bf16": torch.bfloat16}[dtype]
        a = (torch.rand(m, k, device=dev) * 2 - 1).to(t)
        b = (torch.rand(n, k, device=dev) * 2 - 1).to(t)
        fn = lambda: torch.matmul(a, b.t())
    for _ in range(warmup):
        fn()
    pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
             for _ in range(timed)]
    for s, e in pairs:
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    secs = [s.elapsed_time(e) / 1e3 for s, e in pairs]
    return statistics.median(secs), min(secs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("shapes")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--timed", type=int, default=30)
    p.add_argument("--jsonl", default="")
    args = p.parse_args()
    out = open(args.jsonl, "w") if args.jsonl else None
    print(f"# torch {torch.__version__}, cuda {torch.version.cuda}, "
          f"{torch.cuda.get_device_name(0)}; C = A @ B.T, {args.warmup} warm-up / {args.timed} timed")
    print(f"#{'dtype':>9} {'m':>6} {'n':>6} {'k':>6} {'median_ms':>9} {'TFLOP/s':>10} {'best_TF/s':>9}")
    failures = 0
    for spec in args.shapes.split(","):
        dims, _, dtype = spec.partition(":")
        dtype = dtype or "bf16"
        m, n, k = (int(x) for x in dims.split("x"))
        try:
            med, best = run(m, n, k, dtype, args.warmup, args.timed)
        except Exception as e:  # keep going: one shape failing must not hide the rest
            print(f" {dtype:>9} {m:>6} {n:>6} {k:>6}  error: {e}")
            failures += 1
            continue
        flops = 2.0 * m * n * k
        print(f" {dtype:>9} {m:>6} {n:>6} {k:>6} {med*1e3:9.3f} {flops/med/1e12:10.1f} "
              f"{flops/best/1e12:9.1f}", flush=True)
        if out:
            out.write(json.dumps({"schema": 1, "kind": "torch_gemm", "dtype": dtype, "m": m, "n": n,
                                  "k": k, "seconds_median": med, "seconds_min": best,
                                  "tflops": flops / med / 1e12,
                                  "tflops_best": flops / best / 1e12}) + "\n")
        torch.cuda.empty_cache()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
