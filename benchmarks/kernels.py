"""What chapter 00a's MKL pin costs: adrl's network training with MKL's COMPATIBLE branch vs MKL's own dispatch.

Run: .venv/bin/python benchmarks/kernels.py [--repeats 3]
Prints `name: value` lines. Each setting runs in a fresh child process (MKL reads `MKL_CBWR` once), one thread, the
other pins as adrl sets them; `auto` is MKL choosing its kernels by CPU (what `MKL_CBWR=AVX2` gives on a non-Intel
CPU), `compatible` is adrl's pin. Two workloads, the sizes adrl trains: chapter 38's imitation residual (a 64-unit
tanh MLP, 3,072 labels, full-batch Adam, 400 epochs) and a DQN-sized update (the same MLP, minibatches of 256, 1,000
steps). Best of `--repeats`; the ratio `compatible / auto` is measured in the same run (run it alone: the machine is
shared).
"""
import adrl  # noqa: F401  before numpy: pins the numerical libraries' CPU kernels (chapter 00a)
import argparse
import os
import subprocess
import sys

CHILD = r"""
import adrl, time, torch
from adrl.agents.networks import mlp
from adrl.arena_learner import NUM_LEARNER_FEATURES as F
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
x, y = torch.randn(3072, F, generator=g), torch.randn(3072, 1, generator=g)
def imitation():
    net = mlp(F, 64, 1, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(400):
        loss = ((net(x) - y) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
def dqn():
    net = mlp(F, 64, 7, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for k in range(1000):
        b = x[(k * 256) % 2816:(k * 256) % 2816 + 256]
        loss = (net(b).max(1).values[:, None] - y[:256]).pow(2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
for name, f in (("imitation", imitation), ("dqn", dqn)):
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter(); f(); best = min(best, time.perf_counter() - t0)
    print(name, best)
"""


def run(cbwr: str, repeats: int) -> dict:
    "Seconds per workload in a fresh process with MKL_CBWR=`cbwr`."
    env = {**os.environ, "MKL_CBWR": cbwr, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD.replace("REPEATS", str(repeats))], env=env, check=True,
                         capture_output=True, text=True).stdout
    return {name: float(s) for name, s in (line.split() for line in out.splitlines())}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    if args.repeats < 1:
        print(f"--repeats: {args.repeats} is out of range (>= 1)", file=sys.stderr)
        return 2
    pinned, auto = run(adrl.PINS["MKL_CBWR"][1], args.repeats), run("AUTO", args.repeats)
    for name in pinned:
        print(f"{name}_compatible_s: {pinned[name]:.3f}")
        print(f"{name}_auto_s: {auto[name]:.3f}")
        print(f"{name}_compatible_over_auto: {pinned[name] / auto[name]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
