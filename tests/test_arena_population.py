"""The population mode of the arena (chapter 37) through paths the chapter does not take: another tiny arena, three
learners, the all-pacer arena reproduced by the welfare sweep itself, determinism of the whole sweep, the leak
check on a trained population's every seat, and the benchmark's refusal of a bad `--population`."""
import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd

from adrl.arena_evaluate import arena_scores
from adrl.arena_learner import LearnerTraining, learner_agent_config, leak_check
from adrl.arena_population import (PopulationSeats, learner_seats, learner_view, play_population,
                                   population_rivals, population_welfare)
from adrl.arena_seats import fitted_policy, play
from adrl.arena_env import ArenaDays
from adrl.config import ArenaConfig, spawn_seeds
from adrl.evaluate import seed_streams

TINY = ArenaConfig(num_advertisers=7, num_categories=2, num_steps=6, impressions_per_day=300, budget_median=5.0,
                   rivals=(("pid", 1), ("dual", 3), ("online_lp", 1), ("truthful", 1)))
TRAINING = LearnerTraining(days=16, num_envs=8, val_days=4, confirm_days=4, eval_every=8, updates_per_step=1,
                           agent=dataclasses.replace(learner_agent_config(), hidden_dim=8, learning_starts=32))


def test_one_network_learns_from_every_learner_seat():
    seat = PopulationSeats(TRAINING, k=3).fit(TINY, seed=2)
    assert list(seat.learners) == [0, 2, 3]
    n = len(seat.agent.buffer)
    assert n == 16 * 3 * TINY.num_steps                               # days x seats x steps, one buffer
    rows = seat.agent.buffer.obs[:n].reshape(16 // 8, TINY.num_steps, 8, 3, -1)
    assert (np.abs(np.diff(rows, axis=3)).sum((0, 1, 2, 4)) > 0).all()  # each seat's own rows, not copies of one
    drawn = seat.agent.buffer.sample(256, np.random.default_rng(0), step=0).indices % 24 % 3
    assert set(drawn.tolist()) == {0, 1, 2}                          # an update's batch holds every seat
    assert seat.agent.updates > 0


def test_k0_of_the_sweep_is_the_all_pacer_arena():
    tune = seed_streams(1).tune
    frame, seats = population_welfare(TINY, (0, 1), TRAINING, days=4, seed=1, gate=False)
    ev_seed = spawn_seeds(seed_streams(1).eval, 1)[0]                 # the sweep's first block of days
    assert seats[0].learners.size == 0 and not seats[0].use_agent
    ref = play(TINY, fitted_policy(TINY, "dual", tune), 10, ev_seed, fit_seed=tune)
    mine = play_population(TINY, seats[0], 10, ev_seed, tune)
    np.testing.assert_array_equal(mine.state.spend, ref.state.spend)
    np.testing.assert_array_equal(mine.state.expected_conversions, ref.state.expected_conversions)
    revenue = arena_scores(ref, reference=False, days=4).groupby("day").revenue.first().to_numpy()
    np.testing.assert_array_equal(frame[frame.k == 0].revenue.to_numpy(), revenue)
    assert (frame[frame.k == 0][["pacers_change", "revenue_change_pct", "welfare_change_pct"]] == 0).all().all()


def test_same_seed_same_sweep_bit_for_bit():
    a, _ = population_welfare(TINY, (0, 2), TRAINING, days=3, seed=4, gate=False)
    b, _ = population_welfare(TINY, (0, 2), TRAINING, days=3, seed=4, gate=False)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c, _ = population_welfare(TINY, (0, 2), TRAINING, days=3, seed=4, train_seed=1, gate=False)
    assert not a[a.k == 2].learners_pct_of_bound.equals(c[c.k == 2].learners_pct_of_bound)


def test_no_learner_sees_the_others():
    seat = PopulationSeats(TRAINING, k=4).fit(TINY, seed=3)
    days = ArenaDays(TINY, 2, seat.learners, lambda c: population_rivals(c, seat.learners, 3))
    days.reset([np.random.default_rng(d) for d in range(2)])
    seat.reset(TINY, days.adv, seat.learners, np.random.default_rng(0), days.traffic)
    while days.state.t < TINY.num_steps - 1: days.step(seat.act(days.state.t, days.state, days.last))
    view = learner_view(seat, days.state.t)
    for s in seat.learners: assert leak_check(view, days.state, days.adv, days.last, seat=int(s)), s
    spy = lambda st, ad, ls: np.broadcast_to(st.remaining.mean(1)[:, None, None], (2, 4, 1))
    assert not leak_check(learner_view(seat, days.state.t, spy), days.state, days.adv, days.last, seat=2)


def test_learner_count_is_checked():
    for bad in (-1, 5):
        try: learner_seats(TINY, bad)
        except ValueError as e: assert "population.k" in str(e) and "out of range" in str(e)
        else: raise AssertionError(bad)


def test_benchmark_refuses_a_bad_population(root):
    for value in ("-1", "14", "x"):
        out = subprocess.run([sys.executable, str(root / "benchmarks" / "train_arena.py"), "--population", value],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (value, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert "--population" in lines[-1] and "Traceback" not in out.stderr, out.stderr
        if value != "x": assert len(lines) == 1 and "out of range" in lines[0], out.stderr
