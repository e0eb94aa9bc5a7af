"""Wall time of one 8-job experiment grid on 1 and 2 workers, on the process pool and on Ray, and the speed-ups.

Run: .venv/bin/python benchmarks/grid.py [--episodes N] [--seeds 8]
The grid is chapter 50's tiny market (a twentieth of the traffic, 10 slots a day), one config × 8 seeds, N training
days per job. It runs five times — in sequence in this process, then on the process pool and on a local Ray with 1
and with 2 workers — and prints `name: value` lines: each wall time, the speed-up of 2 workers over 1 on each backend,
and whether the five result tables are identical (they must be). A local Ray's start is timed apart (`ray_start_s`)
and not counted in its grids' times; a process pool's start (spawned workers importing torch) is part of its grid.
"""
import argparse
import os
import time

import adrl  # noqa: F401  before pandas' numpy: pins the numerical libraries' CPU kernels (chapter 00a)
import pandas as pd

from adrl.config import Config, override
from adrl.experiments import run_experiment
from adrl.grids import ray_session
from adrl.market import scale_traffic

TINY = ["environment.max_steps=10", "environment.initial_budget=400", "experiment.num_envs=4",
        "experiment.eval_frequency=8", "experiment.num_eval_episodes=5", "agent.learning_starts=40",
        "agent.batch_size=16", "agent.hidden_dim=32", "agent.buffer_size=2000", "agent.ppo_hidden_dim=16",
        "agent.epsilon_decay=0.9", "device=cpu"]


def timed(**kw):
    start = time.perf_counter()
    result = run_experiment(**kw)
    return time.perf_counter() - start, result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=48, help="training days per job")
    p.add_argument("--seeds", type=int, default=8, help="jobs in the grid (one per seed)")
    args = p.parse_args()
    cfg = scale_traffic(override(Config(), TINY), 1 / 20)
    grid = dict(configs={"tiny": cfg}, seeds=range(args.seeds), episodes=args.episodes, eval_every=0,
                eval_episodes=5, baselines=())
    print(f"jobs: {args.seeds}")
    print(f"episodes_per_job: {args.episodes}")
    print(f"cpus: {os.cpu_count()}")
    print(f"load_average_1min: {os.getloadavg()[0]:.2f}")
    wall, results = {}, {}
    wall["sequential"], results["sequential"] = timed(**grid)
    for n in (1, 2):
        wall[f"process_{n}"], results[f"process_{n}"] = timed(backend="process", workers=n, **grid)
    for n in (1, 2):
        start = time.perf_counter()
        with ray_session(num_cpus=n):
            print(f"ray_start_s_{n}_cpus: {time.perf_counter() - start:.1f}")
            wall[f"ray_{n}"], results[f"ray_{n}"] = timed(backend="ray", workers=n, **grid)
    for name, seconds in wall.items(): print(f"wall_s_{name}: {seconds:.1f}")
    print(f"speedup_process_2_over_1: {wall['process_1'] / wall['process_2']:.2f}")
    print(f"speedup_ray_2_over_1: {wall['ray_1'] / wall['ray_2']:.2f}")
    print(f"speedup_process_2_over_sequential: {wall['sequential'] / wall['process_2']:.2f}")
    print(f"speedup_ray_2_over_sequential: {wall['sequential'] / wall['ray_2']:.2f}")
    ref = results["sequential"]
    same = all(r.final.equals(ref.final) and r.curves.equals(ref.curves) for r in results.values())
    pd.testing.assert_frame_equal(results["ray_2"].final, ref.final)
    print(f"tables_identical: {same}")


if __name__ == "__main__":
    main()
