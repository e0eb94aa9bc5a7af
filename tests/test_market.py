"""The market and the oracle: calibration over many seeds, API conformance, vectorised == reference, determinism."""
import warnings

import numpy as np
import pytest

from adrl.baselines import FixedPolicy, TruthfulPolicy, run_days
from adrl.config import MarketConfig, make_rng
from adrl.market import (AdAuctionEnv, SyntheticSource, bid_multipliers, check_against_reference, parallel_env,
                         scale_traffic)
from adrl.oracle import HindsightTracker, knapsack, linear_in_hindsight, oracle_costs

CFG = MarketConfig()


def small(**kw):
    return scale_traffic(MarketConfig(max_steps=12, initial_budget=150.0, **kw), 1 / 40)


@pytest.mark.parametrize("auction", ["second_price", "first_price"])
@pytest.mark.parametrize("pricing", ["cpm", "cpc"])
@pytest.mark.parametrize("seed", [11, 12])
def test_vectorised_equals_reference(auction, pricing, seed):
    n = check_against_reference(small(auction=auction, pricing=pricing), num_envs=8, seed=seed)
    assert n > 5_000


def test_gymnasium_and_pettingzoo_conformance():
    from gymnasium.utils.env_checker import check_env
    from pettingzoo.test import parallel_api_test
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(AdAuctionEnv(MarketConfig(max_steps=8)), skip_render_check=True)
        check_env(AdAuctionEnv(MarketConfig(max_steps=8), action_type="multidiscrete"), skip_render_check=True)
    parallel_api_test(parallel_env(max_steps=8), num_cycles=20)


def test_same_seed_same_days():
    def totals(seed):
        out = run_days({"fixed": FixedPolicy(), "truthful": TruthfulPolicy()}, CFG, 4, seed)
        return {k: np.concatenate([np.ravel(x) for x in v]) for k, v in out.items()}
    a, b, c = totals(5), totals(5), totals(6)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])   # NaN (budget never ran out) compares equal here
    assert not np.array_equal(a["fixed"], c["fixed"], equal_nan=True)


@pytest.fixture(scope="module")
def hundred_days():
    """100 default days (seeds 0..99 as 4 blocks of 25): truthful and fixed bidders, and the hindsight optimum."""
    rows = []
    for block in range(4):
        tracker = HindsightTracker(CFG, 25)
        demand = np.zeros(25)
        def on_slot(slot, tracker=tracker, demand=demand):
            tracker.add(slot)
            win = slot.value.astype(np.float64) * 1e6 >= slot.price
            np.add.at(demand, slot.env[win], slot.price[win] / 1e6)
        out = run_days({"truthful": TruthfulPolicy(), "fixed": FixedPolicy()}, CFG, 25, 1000 + block, on_slot=on_slot)
        rows.append((out, tracker, demand))
    return rows


def test_calibration_budget_binds_and_pacing_matters(hundred_days):
    exhausted, demand = [], []
    for out, _, d in hundred_days:
        exhausted.append(np.isfinite(out["truthful"].exhausted_at) & (out["truthful"].exhausted_at < CFG.max_steps - 1))
        demand.append(d)
    exhausted, demand = np.concatenate(exhausted), np.concatenate(demand)
    # bidding truthfully would spend more than the budget on most days, and runs out before the day ends
    assert (demand > CFG.initial_budget).mean() >= 0.9
    assert exhausted.mean() >= 0.75


def test_calibration_fixed_bid_well_below_oracle(hundred_days):
    pct = []
    for out, tracker, _ in hundred_days:
        f = out["fixed"]
        pct.append(100 * (f.value - f.cost) / tracker.optimum()["score"])
    assert np.mean(np.concatenate(pct)) < 90


def test_calibration_allocation_matters():
    """The oracle's spend split across channels differs from an equal split on (almost) every day."""
    rng, src = make_rng(7), SyntheticSource(CFG, 100)
    src.reset(rng, np.ones(100, bool))
    C = len(CFG.channels)
    vals, costs, envs, chans = [], [], [], []
    for t in range(CFG.max_steps):
        s = src.draw(rng, np.full(100, t))
        keep = s.value.astype(np.float64) > oracle_costs(s, CFG)
        vals.append(s.value[keep].astype(np.float64))
        costs.append(oracle_costs(s, CFG)[keep])
        envs.append(s.env[keep])
        chans.append(s.channel[keep])
    v, c, e, ch = map(np.concatenate, (vals, costs, envs, chans))
    far = 0
    for day in range(100):
        m = e == day
        order = np.argsort(-(v[m] / c[m]), kind="stable")
        take = np.cumsum(c[m][order]) <= CFG.initial_budget
        split = np.bincount(ch[m][order][take], weights=c[m][order][take], minlength=C)
        split = split / split.sum()
        far += np.abs(split - 1 / C).max() > 0.1
    assert far >= 95


def test_bid_levels_express_the_best_linear_bid():
    levels = bid_multipliers(CFG)
    rng, src = make_rng(3), SyntheticSource(CFG, 10)
    src.reset(rng, np.ones(10, bool))
    vals, costs, envs = [], [], []
    for t in range(CFG.max_steps):
        s = src.draw(rng, np.full(10, t))
        vals.append(s.value.astype(np.float64))
        costs.append(oracle_costs(s, CFG))
        envs.append(s.env)
    v, c, e = map(np.concatenate, (vals, costs, envs))
    for day in range(10):
        lin = linear_in_hindsight(v[e == day], c[e == day], CFG.initial_budget)
        m = 1 / (1 + lin.shadow_price)
        assert levels[0] <= m <= levels[-1]
        assert np.min(np.abs(np.log(levels) - np.log(m))) <= np.log(levels[1] / levels[0]) / 2 + 1e-12
        assert lin.score <= knapsack(v[e == day], c[e == day], CFG.initial_budget).score + 1e-6


def test_no_policy_beats_the_oracle(hundred_days):
    for out, tracker, _ in hundred_days:
        opt = tracker.optimum()["score"]
        for t in out.values():
            assert np.all(t.value - t.cost <= opt + 1e-6)


def test_tuning_and_evaluation_seeds_are_apart(monkeypatch):
    """evaluate() fits policies on the tuning stream only, and draws evaluation days only from the evaluation stream."""
    import adrl.evaluate as ev
    from adrl.baselines import FixedPolicy
    from adrl.config import spawn_seeds

    class Spy(FixedPolicy):
        def fit(self, cfg, seed):
            self.fit_seed = seed
            return self

    day_seeds, real = [], ev.run_days
    monkeypatch.setattr(ev, "run_days", lambda *a, **k: (day_seeds.append(a[3]), real(*a, **k))[1])
    spy = Spy()
    ev.evaluate({"spy": spy}, small(), episodes=30, seed=42, oracle=False)
    s = ev.seed_streams(42)
    assert spy.fit_seed == s.tune
    assert day_seeds == spawn_seeds(s.eval, 2)
    assert s.tune not in day_seeds
