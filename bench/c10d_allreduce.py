#!/usr/bin/env python3
"""PyTorch c10d's all-reduce on the CPU (ProcessGroupGloo), timed as a c10d
benchmark loop does, for bench/allreduce_vs_c10d.sh.

Two processes (torch.multiprocessing), one intra-op thread each, a FileStore
rendezvous; per size: WARMUP untimed calls, then ITERATIONS calls, each after
a barrier, timed with perf_counter around dist.all_reduce (in place, fp32,
SUM). Per iteration the slower rank's time is kept (as tokenmeter keeps the
slowest rank's), and the median of those is printed:

    bytes median_seconds busbw_gbps

busbw = bytes / seconds * 2(n-1)/n / 1e9, nccl-tests' all-reduce factor.
usage: c10d_allreduce.py WARMUP ITERATIONS BYTES [BYTES ...]
"""
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD = 2


def rank_main(rank, store_path, warmup, iterations, sizes, queue):
    torch.set_num_threads(1)
    store = dist.FileStore(store_path, WORLD)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=WORLD)
    results = []
    for nbytes in sizes:
        t = torch.ones(nbytes // 4, dtype=torch.float32)
        for _ in range(warmup):
            dist.all_reduce(t)
        seconds = []
        for _ in range(iterations):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(t)
            seconds.append(time.perf_counter() - start)
        # The slower rank's time of each iteration.
        mine = torch.tensor(seconds, dtype=torch.float64)
        dist.all_reduce(mine, op=dist.ReduceOp.MAX)
        results.append((nbytes, statistics.median(mine.tolist())))
    dist.destroy_process_group()
    if rank == 0:
        queue.put(results)


def main():
    warmup, iterations = int(sys.argv[1]), int(sys.argv[2])
    sizes = [int(s) for s in sys.argv[3:]]
    with tempfile.TemporaryDirectory() as tmp:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=rank_main, args=(r, os.path.join(tmp, "store"), warmup, iterations, sizes, queue))
                 for r in range(WORLD)]
        for p in procs:
            p.start()
        results = queue.get(timeout=600)
        for p in procs:
            p.join()
    factor = 2 * (WORLD - 1) / WORLD
    for nbytes, median in results:
        print(f"{nbytes} {median:.9f} {nbytes / median * factor / 1e9:.4f}")


if __name__ == "__main__":
    main()
