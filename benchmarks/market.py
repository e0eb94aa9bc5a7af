"""Auctions simulated per second: the vectorised market vs the per-auction reference loop (one core).

Run: .venv/bin/python benchmarks/market.py [--envs 64] [--slots 20]
Prints `name: value` lines. Threads are pinned to one so the figure is per core.
"""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import adrl  # noqa: E402,F401  before numpy: pins the numerical libraries' CPU kernels (chapter 00a)
import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from adrl.config import MarketConfig, make_rng  # noqa: E402
from adrl.market import Ledger, Market, SyntheticSource, bid_multipliers, resolve_reference  # noqa: E402


def vectorised(cfg, envs, slots, seed=0):
    market = Market(cfg, num_envs=envs, seed=seed)
    market.reset()
    mult, alloc = bid_multipliers(cfg)[7], np.full(len(cfg.channels), 1 / len(cfg.channels))
    market.step(mult, alloc, run_to_end=True)  # warm-up
    n, start = 0, time.perf_counter()
    for _ in range(slots):
        r = market.step(mult, alloc, run_to_end=True)
        n += int(r.result.auctions.sum())
    return n / (time.perf_counter() - start)


def reference(cfg, envs, slots, seed=0):
    rng, src = make_rng(seed), SyntheticSource(cfg, envs)
    src.reset(rng, np.ones(envs, bool))
    ledger = Ledger.new(envs, len(cfg.channels), cfg.initial_budget)
    mult = np.full((envs, len(cfg.channels)), bid_multipliers(cfg)[7])
    alloc = np.full((envs, len(cfg.channels)), 1 / len(cfg.channels))
    n, elapsed = 0, 0.0
    for t in range(slots):
        slot = src.draw(rng, np.full(envs, t))
        start = time.perf_counter()
        resolve_reference(slot, mult, alloc, ledger, cfg)
        elapsed += time.perf_counter() - start
        n += slot.seg.size
    return n / elapsed


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--envs", type=int, default=64, help="parallel days of the vectorised market")
    p.add_argument("--slots", type=int, default=20, help="slots to time")
    args = p.parse_args()
    cfg = MarketConfig()
    vec = vectorised(cfg, args.envs, args.slots)
    ref = reference(cfg, 1, 2)
    print(f"mean_auctions_per_day: {int(sum(c.volume for c in cfg.channels) * cfg.max_steps)}")
    print(f"vectorised_auctions_per_s: {vec:,.0f}")
    print(f"reference_auctions_per_s: {ref:,.0f}")
    print(f"speedup: {vec / ref:,.1f}")


if __name__ == "__main__":
    main()
