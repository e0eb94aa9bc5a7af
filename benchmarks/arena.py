"""Bid evaluations (impression x advertiser) per second in the arena: the vectorised day engine vs the reference loop.

Run: .venv/bin/python benchmarks/arena.py [--days 16] [--repeats 3]
Prints `name: value` lines. Threads are pinned to one so the figures are per core. The default arena is timed:
48 advertisers, 3 slots, 10,000 impressions a day, every seat bidding a multiplier of 1 (budgets run out, so the
budget rule's ordered pass runs). `arena_bid_evaluations_per_s` counts bids from multipliers, the auctions and the
budget rule (`play_day`); `arena_with_draws_bid_evaluations_per_s` adds the random draws of the day (advertisers and
traffic); the reference is timed on the first steps of one day, in the same run.
"""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import adrl  # noqa: E402,F401  before numpy: pins the numerical libraries' CPU kernels (chapter 00a)
import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from adrl.arena import ArenaState, arena_step_reference, draw_advertisers, draw_traffic, play_day  # noqa: E402
from adrl.config import ArenaConfig, make_rng  # noqa: E402


def engine(cfg, days, repeats, seed=0):
    "Best-of-`repeats` rates (bid evaluations per second) without and with the day's draws."
    ones = np.ones((days, cfg.num_advertisers))
    policy = lambda t, state, last: ones  # noqa: E731
    evaluations = days * cfg.impressions_per_day * cfg.num_advertisers
    play, total = [], []
    for r in range(repeats):
        start = time.perf_counter()
        rng = make_rng(seed + r)
        adv = draw_advertisers(cfg, rng, days)
        traffic = draw_traffic(cfg, adv, rng)
        drawn = time.perf_counter()
        play_day(cfg, adv, traffic, policy, keep=False)
        end = time.perf_counter()
        play.append(end - drawn)
        total.append(end - start)
    return evaluations / min(play), evaluations / min(total)


def reference(cfg, steps, seed=0):
    "Bid evaluations per second of `arena_step_reference` on the first `steps` steps of one day."
    rng = make_rng(seed)
    adv = draw_advertisers(cfg, rng, 1)
    traffic = draw_traffic(cfg, adv, rng)
    state, ones = ArenaState.new(cfg, adv), np.ones((1, cfg.num_advertisers))
    start = time.perf_counter()
    for t in range(steps): arena_step_reference(state, traffic, adv, t, ones, cfg)
    return int(traffic.offsets[0, steps]) * cfg.num_advertisers / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--days", type=int, default=16, help="parallel days of the vectorised engine")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats (the best counts)")
    p.add_argument("--reference-steps", type=int, default=2, help="steps of one day timed through the reference")
    args = p.parse_args()
    cfg = ArenaConfig()
    play, with_draws = engine(cfg, args.days, args.repeats)
    ref = reference(cfg, args.reference_steps)
    print(f"arena: {cfg.num_advertisers} advertisers x {cfg.num_slots} slots x {cfg.impressions_per_day:,} "
          f"impressions x {args.days} days")
    print(f"arena_bid_evaluations_per_s: {play:,.0f}")
    print(f"arena_with_draws_bid_evaluations_per_s: {with_draws:,.0f}")
    print(f"reference_bid_evaluations_per_s: {ref:,.0f}")
    print(f"speedup_vs_reference: {play / ref:,.1f}")


if __name__ == "__main__":
    main()
