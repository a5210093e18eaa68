#!/usr/bin/env python3
"""tokenmeter's train step against the PyTorch reference's, whole step and
per phase, as ratios tokenmeter / reference (1 = the same time).

usage: compare.py TOKENMETER.jsonl REFERENCE.json [--markdown]
       compare.py --rounds DIR...
  TOKENMETER.jsonl  `tokenmeter results --json` of the run (its "job" line of
                    the same workload: phase_seconds_* are the slowest rank's)
  REFERENCE.json    torch_step.py's output for the same spec
  --rounds DIR...   each DIR a round's tokenmeter.jsonl and reference.json
                    (compare.sh with REPEATS): per row, the median ratio over
                    the rounds, judged against the band, and its range
The whole step passes within 0.8-1.25x (tokens/s), each phase within
0.67-1.5x (seconds); a row outside says so (docs/benchmarks.md says why, per
shape). Exit status 0 whatever the ratios: this prints, it does not judge CI.
"""
import json
import statistics
import sys

PHASES = ("gemm", "attention", "elementwise", "loss", "optimizer")
STEP_BAND = (0.8, 1.25)
PHASE_BAND = (0.67, 1.5)


def job_line(path, workload):
    jobs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                row = json.loads(line)
                if row.get("kind") == "job" and "tokens_per_second" in row:
                    jobs.append(row)
    same = [j for j in jobs if j.get("workload") == workload] or jobs
    if not same:
        sys.exit(f"compare: {path} holds no train-step job line")
    return same[0]


def verdict(ratio, band):
    if ratio is None:
        return ""
    return "within" if band[0] <= ratio <= band[1] else "OUTSIDE"


def rows(tm, ref):
    out = []
    step_ratio = tm["tokens_per_second"] / ref["tokens_per_second"]
    out.append(("step (tokens/s)", tm["tokens_per_second"], ref["tokens_per_second"], step_ratio,
                verdict(step_ratio, STEP_BAND)))
    out.append(("step (s)", tm["step_seconds_median"], ref["step_seconds"]["median"],
                tm["step_seconds_median"] / ref["step_seconds"]["median"], ""))
    for phase in PHASES:
        a = tm.get(f"phase_seconds_{phase}")
        b = ref["phase_seconds"].get(phase)
        ratio = a / b if a and b else None
        out.append((phase, a, b, ratio, verdict(ratio, PHASE_BAND)))
    out.append(("overhead (reference only)", None, ref.get("overhead_seconds"), None, ""))
    return out


def fmt(x):
    return "-" if x is None else f"{x:.4g}"


def rounds(dirs):
    """The median and range of each row's ratio over rounds, in row order."""
    per_row = {}
    for d in dirs:
        with open(f"{d}/reference.json") as f:
            ref = json.load(f)
        tm = job_line(f"{d}/tokenmeter.jsonl", ref.get("workload"))
        for name, _, _, r, _ in rows(tm, ref):
            per_row.setdefault(name, []).append(r)
    print(f"# {ref.get('workload')}: {len(dirs)} alternating rounds, ratio tokenmeter / PyTorch")
    print(f"# {'':<26} {'median':>7} {'min':>7} {'max':>7}  band   per round")
    for name, ratios in per_row.items():
        if any(r is None for r in ratios):
            continue
        band = STEP_BAND if name == "step (tokens/s)" else PHASE_BAND if name in PHASES else None
        median = statistics.median(ratios)
        v = verdict(median, band) if band else ""
        print(f"  {name:<26} {median:7.3f} {min(ratios):7.3f} {max(ratios):7.3f}  {v:<7} "
              + " ".join(f"{r:.3f}" for r in ratios))
    return 0


def main(argv):
    if argv[:1] == ["--rounds"]:
        return rounds(argv[1:])
    markdown = "--markdown" in argv
    args = [a for a in argv if a != "--markdown"]
    if len(args) != 2:
        sys.exit(__doc__)
    with open(args[1]) as f:
        ref = json.load(f)
    tm = job_line(args[0], ref.get("workload"))
    title = (f"{ref.get('workload')} ({ref['dtype']}, {ref['device_name']}, PyTorch {ref['torch']}, "
             f"{ref['threads']} threads; tokenmeter job {tm.get('job_id')})")
    table = rows(tm, ref)
    if markdown:
        print(f"{title}\n")
        print("| | tokenmeter | PyTorch | ratio | band |")
        print("|---|---|---|---|---|")
        for name, a, b, r, v in table:
            print(f"| {name} | {fmt(a)} | {fmt(b)} | {fmt(r)} | {v} |")
    else:
        print(f"# {title}")
        print(f"# {'':<26} {'tokenmeter':>12} {'PyTorch':>12} {'ratio':>7}")
        for name, a, b, r, v in table:
            print(f"  {name:<26} {fmt(a):>12} {fmt(b):>12} {fmt(r):>7} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
