"""Environment steps per second of the arena's vector env (seat 0 among the rivals) against single days one at a time.

Run: .venv/bin/python benchmarks/arena_env.py [--days 16] [--repeats 3] [--multiplier 0.8]
Prints `name: value` lines. Threads are pinned to one so the figures are per core. The default arena is timed, with
the default rivals in seats 1 ... 47: `ArenaVectorEnv(days)` is reset and stepped through one whole day
(`num_steps` steps), and one step of all the days counts as `days` environment steps (`env_steps_per_s`). The
reference plays the same days, from the same seeds and with the same actions, one at a time through `ArenaSeatEnv`
(reset, then the same number of steps; a day that ends is reset, as the vector env's autoreset does), in the same
run. Seat 0's actions are uniform over the action box (an untrained policy), or a constant `--multiplier`. Both
timings include the resets, so the day's draws (advertisers, traffic, rivals) count.
"""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import adrl  # noqa: E402,F401  before numpy: pins the numerical libraries' CPU kernels (chapter 00a)
import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from adrl.arena_env import ArenaSeatEnv, ArenaVectorEnv  # noqa: E402
from adrl.config import ArenaConfig  # noqa: E402


def actions(days, steps, multiplier, high, seed=0):
    "(steps, days, 1) float32 seat 0's actions: uniform in [0, high], or the constant `multiplier`."
    if multiplier is not None: return np.full((steps, days, 1), multiplier, np.float32)
    return np.random.default_rng(seed).uniform(0, high, (steps, days, 1)).astype(np.float32)


def vector(venv, acts, seed):
    "Seconds to reset the vector env and play `acts` through it."
    start = time.perf_counter()
    venv.reset(seed=seed)
    for a in acts: venv.step(a)
    return time.perf_counter() - start


def single(env, acts, seed):
    "Seconds to play the same days one at a time through the seat env, resetting a day that ends."
    start = time.perf_counter()
    for i in range(acts.shape[1]):
        env.reset(seed=seed + i)
        for a in acts[:, i]:
            if any(env.step(a)[2:4]): env.reset()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--days", type=int, default=16, help="parallel days of the vector env")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats (the best counts)")
    p.add_argument("--multiplier", type=float, default=None, help="seat 0's constant action (default: uniform)")
    p.add_argument("--seed", type=int, default=0, help="the days' seed (day i: seed + i)")
    args = p.parse_args()
    cfg = ArenaConfig()
    venv, env = ArenaVectorEnv(args.days, cfg), ArenaSeatEnv(cfg)
    high = env.action_space.high[0]
    acts = actions(args.days, cfg.num_steps, args.multiplier, high, args.seed)
    env_steps = acts.shape[0] * acts.shape[1]
    venv.reset(seed=args.seed)                       # (the first reset lays out the envs' arrays: not timed)
    env.reset(seed=args.seed)
    vec = min(vector(venv, acts, args.seed) for _ in range(args.repeats))
    ref = min(single(env, acts, args.seed) for _ in range(args.repeats))
    what = f"uniform in [0, {high:g}]" if args.multiplier is None else f"constant {args.multiplier:g}"
    print(f"arena_env: {args.days} days x {cfg.num_steps} steps, seat 0 among {cfg.num_advertisers - 1} rivals "
          f"({', '.join(f'{n} {k}' for k, n in cfg.rivals)}), actions {what}")
    print(f"env_steps_per_s: {env_steps / vec:,.0f}")
    print(f"vector_steps_per_s: {acts.shape[0] / vec:,.1f}")
    print(f"single_env_steps_per_s: {env_steps / ref:,.0f}")
    print(f"speedup_vs_single: {ref / vec:,.1f}")


if __name__ == "__main__":
    main()
