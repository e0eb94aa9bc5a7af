"""The arena's learning seats (chapters 36 and 38) through the paths the chapters do not take: `evaluate_arena`
fitting them on their tuning stream, and the benchmark's refusal of bad arguments."""
import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from adrl.arena_evaluate import evaluate_arena
from adrl.arena_learner import LearnerTraining, ResidualSeats, learner_agent_config
from adrl.config import ArenaConfig
from adrl.evaluate import seed_streams

TINY = ArenaConfig(num_advertisers=6, num_categories=2, num_steps=8, impressions_per_day=400, budget_median=6.0,
                   rivals=(("online_lp", 2), ("dual", 1), ("pid", 1), ("truthful", 1)))
TRAINING = LearnerTraining(days=16, num_envs=8, val_days=4, eval_every=8, updates_per_step=1,
                           agent=dataclasses.replace(learner_agent_config(), hidden_dim=8, learning_starts=32))


def test_evaluate_arena_fits_the_learner_on_the_tuning_stream():
    seat = ResidualSeats(TRAINING)
    ev = evaluate_arena({"learner": seat}, TINY, days=3, seed=2)   # fit=True: it calls seat.fit(cfg, tune)
    assert seat.fitted == (TINY, seed_streams(2).tune)          # trained on the tuning stream, never the eval days
    assert len(seat.history) == 3 and seat.trained_days == 16
    first = ev[ev.agent == "learner"].score.to_numpy()
    again = evaluate_arena({"learner": seat}, TINY, days=3, seed=2)   # fitted already: the same seat, same days
    np.testing.assert_array_equal(again[again.agent == "learner"].score.to_numpy(), first)


def test_benchmark_refuses_bad_arguments(root):
    for args, field in ((["--seeds", "0"], "--seeds"), (["--train-days", "-5"], "--train-days"),
                        (["--advertisers", "3"], "--advertisers"), (["--learner", "dqn"], "--learner"),
                        (["--arena", "{auction: dutch}"], "--arena"),
                        (["--learner", "system", "--variants", "bc"], "--variants"),
                        (["--learner", "system", "--variants", "dqfd+bogus"], "--variants"),
                        (["--learner", "system", "--variants", "dqfd+full"], "--variants"),
                        (["--eval-rivals", "[[pid, 20]]"], "--eval-rivals")):
        out = subprocess.run([sys.executable, str(root / "benchmarks" / "train_arena.py"), *args],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"train_arena: {field}:"), out.stderr
        assert "Traceback" not in out.stderr


def test_evaluate_arena_fits_the_imitation_seat_on_the_tuning_stream():
    from adrl.arena_imitation import ImitationSeats, ImitationTraining
    small = ImitationTraining(iterations=2, days=8, chunk=8, val_days=4, confirm_days=4, hidden_dim=8, epochs=20)
    seat = ImitationSeats(small)
    ev = evaluate_arena({"imitation": seat}, TINY, days=3, seed=2)   # fit=True: seat.fit(cfg, tune)
    assert seat.fitted == (TINY, seed_streams(2).tune) and seat.trained_days == 16
    assert [h["round"] for h in seat.history] == [0, 1, 2]
    first = ev[ev.agent == "imitation"].score.to_numpy()
    again = evaluate_arena({"imitation": seat}, TINY, days=3, seed=2)
    np.testing.assert_array_equal(again[again.agent == "imitation"].score.to_numpy(), first)


def test_imitation_seat_refuses_an_unknown_pacer():
    from adrl.arena_imitation import ImitationSeats
    with pytest.raises(ValueError, match="pacer: 'greedy'"):
        ImitationSeats(pacer="greedy")


def test_evaluate_arena_fits_the_randomised_seat_on_the_tuning_stream():
    from adrl.arena_imitation import ImitationTraining
    from adrl.arena_worlds import RandomisedImitationSeats, TrainingWorlds
    small = ImitationTraining(iterations=2, days=8, chunk=4, val_days=4, confirm_days=4, hidden_dim=8, epochs=20)
    seat = RandomisedImitationSeats(small, TrainingWorlds(checkpoint_share=0.5))
    ev = evaluate_arena({"imitation": seat}, TINY, days=3, seed=2)   # fit=True: seat.fit(cfg, tune)
    assert seat.fitted == (TINY, seed_streams(2).tune) and seat.trained_days == 16
    assert len(seat.drawn) == 4 and len(seat.round_weights) == 2     # one world per chunk, one set of weights per round
    assert all(sum(v for k, v in d.items() if not k.endswith("_scale")) == 5 for d in seat.drawn)
    first = ev[ev.agent == "imitation"].score.to_numpy()
    again = evaluate_arena({"imitation": seat}, TINY, days=3, seed=2)   # fitted already: no second training
    assert len(seat.drawn) == 4
    np.testing.assert_array_equal(again[again.agent == "imitation"].score.to_numpy(), first)


def test_evaluate_arena_fits_the_system_seat_and_plays_it_per_channel():
    from adrl.arena_system import SystemSeats, SystemTraining, system_agent_config
    small = SystemTraining(days=16, num_envs=8, val_days=4, confirm_days=4, eval_every=8, updates_per_step=1,
                           agent=system_agent_config(hidden_dim=8, ppo_hidden_dim=8, learning_starts=32))
    seat = SystemSeats(small, seed=1)
    ev = evaluate_arena({"system": seat}, TINY, days=3, seed=2)       # fit=True: seat.fit(cfg, tune)
    assert seat.fitted == (TINY, seed_streams(2).tune) and seat.trained_days == 16
    assert [h["days"] for h in seat.history] == [0, 8, 16]
    first = ev[ev.agent == "system"].score.to_numpy()
    seat.use_agent = True                                              # whatever the gate said: the agents play
    on = evaluate_arena({"system": seat}, TINY, days=3, seed=2)
    seat.use_agent = False
    off = evaluate_arena({"system": seat, "dual": seat.pacer}, TINY, days=3, seed=2, fit=False)
    score = lambda ev, agent: ev[ev.agent == agent].score.to_numpy()
    np.testing.assert_array_equal(score(off, "system"), score(off, "dual"))     # gated off: its pacer, bid for bid
    assert not np.array_equal(on[on.agent == "system"].score.to_numpy(), off[off.agent == "system"].score.to_numpy())
    assert np.isfinite(first).all()
