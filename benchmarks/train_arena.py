"""Train the arena's learning seat (chapters 36, 38) and score it beside the tuned pacers in seat 0 on held-out days.

Run: .venv/bin/python benchmarks/train_arena.py [--learner imitation|residual] [--seeds 2] [--eval-days 50]
       [--seed 0] [--train-days 640] [--val-days 32] [--first-seed 0] [--advertisers 48] [--out train_arena.json]
The baselines are dual, pid and online_lp (each tuned by chapter 22's population search on training days) and
dual_seat (chapter 38's seat_tuned_dual: dual with its CPA aim tuned in seat 0 among the fitted rivals, on training
days): the best of the four is the baseline each learner must beat.

`--learner imitation` (the default): each training seed k trains chapter 38's `ImitationSeats(seed=k)` with its
defaults (4 DAgger rounds of 32 fresh days labelled by the hindsight expert, a residual on dual_seat), the best
round kept only if it beats the bare pacer on 32 validation days and again on 64 confirmation days (paired,
one-sided p < 0.05); `--train-days` does not apply. `--seeds 5` took 496 s here (each seat 75-89 s).

`--arena '{auction: first_price}'` (any arena fields, YAML) and `--advertisers N` train and evaluate on another
arena; `--eval-rivals '[[pid, 20], [linear, 15], [online_lp, 6], [truthful, 6]]'` (the arena's `rivals` field, YAML)
evaluates on a rival mix that training and tuning never saw (every learner and baseline as trained on the training
mix; the new rivals tuned on the tuning stream).

`--variants full,bc,population_pacer,cpa_cap,clip3` trains each ablation of the imitation seat with the same seeds
(VARIANTS below) and prints, per variant and seed, its paired difference to the full seat of the same seed.
`--variants full,worlds` adds chapter 39's seat trained on randomised worlds (budgets, CPA targets, rival mixes drawn
from a pool that includes its own past rounds) and validated on a rival mix of its own (`worlds_no_checkpoints`,
`worlds_arena_validation`: without the past rounds, validated among the arena's rivals); `days64` and
`worlds_days64` train either seat on twice the days per round. Measured: `--variants full,worlds,
worlds_no_checkpoints --seeds 5` 522 s, `--variants days64,worlds_days64 --seeds 5` 681 s (chapter 39's table).

`--learner system`: each training seed k trains chapter 39a's `SystemSeats(seed=k)` (the seed's controller, bidder
and budget agent on the seat-tuned pacer, `--train-days` days, checkpoints every quarter, chapter 36's gate);
`--variants full,no_controller,no_budget,no_per,no_dueling,no_double_q,gae_lambda_1,no_adv_norm,no_residual` trains
the issue's ablations (and `no_calibration`: without the channels' calibration features; `on_imitation`: the
residuals on chapter 38's imitation seat of the same seed instead of dual_seat; `hindsight`: the agents rewarded
by the change in the hindsight expert's value-to-go, chapter 39a; `demonstrations`: also learning the expert's
levels by DQfD's large-margin loss; `dqfd`: that, the bidder alone, without the controller and the budget agent;
`no_demonstrations`, `no_td`: after dqfd, without the large-margin loss, without the TD loss; variants compose
with `+`, e.g. `dqfd+no_per`, and each `a+b` is paired with `a` of the same seed when `a` is among the variants),
and `--ungated` also scores each seat's best checkpoint whatever its gate said (`name_ungated`) and prints each
ablation's ungated paired difference to the full seat's. Measured: `--seeds 5 --ungated` 269 s; all
nine variants with `--seeds 3 --ungated` 1,324 s (beside another run); with chapter 00a's pins, 308 s and
33 min 10 s (beside a CI run); with MKL's COMPATIBLE pin, all nine 36 min 27 s and `--variants full,hindsight --seeds 3
--ungated` 21 min 29 s, both beside other runs (chapter 39a's tables); `--variants dqfd --seeds 5 --ungated`
23 min 43 s beside another run (each seat 260-278 s); `dqfd+no_per` (uniform replay) 210-225 s a seat,
`dqfd+no_per+no_td` (the large-margin loss alone) 205-216 s.

`--learner residual`: each training seed k (`--first-seed` ... `--first-seed + --seeds - 1`) trains
`ResidualSeats(seed=k)`: the dual pacer tuned on the tuning stream of `--seed` (the same search as the dual
baseline), a Dueling Double DQN residual trained on `--train-days` fresh days against the configured rivals, its
checkpoint chosen on `--val-days` validation days of its own stream and kept only if it beats the bare pacer there
and again on 64 confirmation days (paired, one-sided p < 0.05).

Then every learner and the baselines play seat 0 on the same `--eval-days` held-out days of `--seed`
(`evaluate_arena`), and it prints `name: value` lines: training days, wall times, % of the hindsight bound of every
agent (mean and 95 % bootstrap CI), the CPA violation rate of each, and per learner its paired difference to the
best baseline (t-interval, bootstrap interval, paired t-test p, and p Holm-corrected over the learners), the share
of the gap to the bound it closes, and its CPA violations against the best baseline's, paired by day (McNemar).
Threads are pinned to one.
The issue's targets (>= 90 % of the bound, p < 0.01 against the best baseline, a third of the gap closed) are
measured here, not asserted. `--out` writes the numbers as JSON (atomically). `--learner residual --seeds 5` takes
about 15 minutes on two shared cores (908 s measured).

Population mode (chapter 37): `--population K` runs the welfare question instead of the seat section. For k in
0, 1, 2, 4, ... up to K (powers of two, and K), k seats (seat 0 and the dual rivals' seats) learn at once with one
shared network (`PopulationSeats(seed=--first-seed)`, `--train-days` days each, checkpoints on `--val-days`
validation days), the rest of the seats the tuned rival mix; every seat of the `--eval-days` held-out days of
`--seed` is scored against its own bound. It prints, per k, `population_k{k}_{metric}: mean [95 % bootstrap CI]`
for the learners' % of bound and its paired gain over the same seats as pacers, the never-learning seats' % of
bound and its paired change, the platform's revenue and welfare (value won) and their % change from k = 0, and the
CPA-violation rates; then the training and evaluation wall times and the gate's verdict per k. The trained agents
play whatever the gate says unless `--population-gate` is given (then a population the gate switches off plays its
pacers, which is the k = 0 arena). Run: .venv/bin/python benchmarks/train_arena.py --population 8
Measured: `--population 8 --train-days 160 --eval-days 30` takes 5-7 minutes on two shared cores (304-422 s in three
runs, the same numbers bit for bit); the default 640 training days are about four times the training.
"""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from adrl.arena_evaluate import arena_summary, evaluate_arena  # noqa: E402
from adrl.arena_imitation import ImitationSeats, ImitationTraining, seat_tuned_dual  # noqa: E402
from adrl.arena_learner import LearnerTraining, ResidualSeats, learner_report, learner_reports  # noqa: E402
from adrl.arena_population import population_welfare, welfare_summary  # noqa: E402
from adrl.arena_worlds import RandomisedImitationSeats, TrainingWorlds  # noqa: E402
from adrl.arena_seats import check_rivals, fitted_policy  # noqa: E402
from adrl.arena_system import SEAT_VARIANTS, SYSTEM_ABLATIONS, SystemSeats, SystemTraining  # noqa: E402
from adrl.config import ArenaConfig, atomic_write, check_number, from_dict, parse_yaml, to_dict  # noqa: E402
from adrl.evaluate import seed_streams  # noqa: E402

BASELINES = ("dual_seat", "dual", "pid", "online_lp")
# the imitation seat's ablations (--variants): what each part is worth, trained with the same seeds
VARIANTS = {"full": {},                              # chapter 38's defaults
            "bc": {"iterations": 1},                 # behaviour cloning: one round, the bare pacer's states only
            "population_pacer": {"pacer": "population"},   # the residual on chapter 22's dual, not the seat-tuned one
            "cpa_cap": {"cpa_cap": 1.0},             # an expert that keeps the day's CPA within the target
            "clip3": {"clip": 3.0},                  # the residual free to reach 3x the pacer's ask (default 2x)
            # chapter 39: trained on randomised worlds among a rival pool and its own past rounds, validated on a mix
            "worlds": {"worlds": {}},
            "worlds_no_checkpoints": {"worlds": {"checkpoint_share": 0.0}},  # the pool without its past rounds
            "worlds_arena_validation": {"worlds": {"validation_mix": None}},  # validated among the arena's rivals
            "days64": {"days": 64},                  # twice the training days per round (chapter 38's seat)
            "worlds_days64": {"days": 64, "worlds": {}}}  # chapter 39's, with twice the training days per round
SYSTEM_VARIANTS = ("full", *SYSTEM_ABLATIONS, *SEAT_VARIANTS)  # --learner system: the issue's eight and SEAT_VARIANTS


def parse(argv=None):
    "The arguments, checked: a bad one is one line naming it and its range, exit code 2."
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--learner", default="imitation",
                   help="imitation (chapter 38's DAgger seat), residual (chapter 36's DQN residual) or system "
                        "(chapter 39a's seed system: controller, bidder, budget agent)")
    p.add_argument("--variants", default="full",
                   help="comma-separated variants to train: imitation learner " + ", ".join(VARIANTS)
                        + "; system learner " + ", ".join(SYSTEM_VARIANTS))
    p.add_argument("--train-days", type=int, default=640, help="training days per residual learner")
    p.add_argument("--seeds", type=int, default=2, help="training seeds (learners)")
    p.add_argument("--first-seed", type=int, default=0, help="the first training seed")
    p.add_argument("--eval-days", type=int, default=50, help="held-out evaluation days")
    p.add_argument("--val-days", type=int, default=32, help="validation days of each learner")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (its tuning stream tunes every policy)")
    p.add_argument("--advertisers", type=int, default=48, help="advertisers of the arena (rivals scaled to fit)")
    p.add_argument("--population", type=int, default=0,
                   help="population mode: k = 0, 1, 2, 4 ... up to this many learners (0: the seat section)")
    p.add_argument("--population-gate", action="store_true",
                   help="population mode: a population the validation gate switches off plays its pacers")
    p.add_argument("--arena", default="", help="other arena fields as a YAML mapping, e.g. '{auction: first_price}'")
    p.add_argument("--eval-rivals", default="",
                   help="a held-out rival mix for the evaluation only (YAML, the arena's rivals field), "
                        "e.g. '[[pid, 20], [linear, 15], [online_lp, 6], [truthful, 6]]'")
    p.add_argument("--ungated", action="store_true",
                   help="system learner: also score each seat's best checkpoint whatever its gate said "
                        "(name_ungated), and each ablation's against the full seat's, ungated too")
    p.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = p.parse_args(argv)
    try:
        if args.learner not in ("imitation", "residual", "system"):
            raise ValueError(f"--learner: {args.learner!r} is not one of imitation, residual, system")
        args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        known = {"imitation": tuple(VARIANTS), "residual": ("full",), "system": SYSTEM_VARIANTS}[args.learner]
        parts = [p for v in args.variants for p in (v.split("+") if args.learner == "system" else [v])]
        if "full" in parts and len(parts) > len(args.variants):
            raise ValueError("--variants: 'full' is the seat itself; compose named variants only, e.g. dqfd+no_per")
        bad = [v for v in parts if v not in known] or ([] if args.variants else ["(none)"])
        if bad: raise ValueError(f"--variants: {bad[0]!r} is not one of {', '.join(known)} (--learner {args.learner})")
        if args.ungated and args.learner != "system": raise ValueError("--ungated: only with --learner system")
        check_number("--train-days", args.train_days, int, ge=1)
        check_number("--seeds", args.seeds, int, ge=1, le=100)
        check_number("--eval-days", args.eval_days, int, ge=2)
        check_number("--val-days", args.val_days, int, ge=1)
        check_number("--first-seed", args.first_seed, int, ge=0)
        check_number("--advertisers", args.advertisers, int, ge=6, le=4096)
        seats = 1 + sum(c for name, c in arena(args.advertisers).rivals if name == "dual")
        check_number("--population", args.population, int, ge=0, le=seats,
                     hint="seat 0 and the dual rivals' seats")
        args.cfg, args.eval_cfg = arena_fields(args)
        if args.population and args.eval_cfg != args.cfg:
            raise ValueError("--eval-rivals: the population mode evaluates on its training mix")
    except ValueError as e:
        print(f"train_arena: {e}", file=sys.stderr)
        sys.exit(2)
    return args


def arena(advertisers: int) -> ArenaConfig:
    "The default arena, or one with another number of advertisers and the default rival mix scaled to it."
    cfg = ArenaConfig()
    if advertisers == cfg.num_advertisers: return cfg
    counts = [max(1, round(c * (advertisers - 1) / (cfg.num_advertisers - 1))) for _, c in cfg.rivals]
    counts[0] += advertisers - 1 - sum(counts)
    return dataclasses.replace(cfg, num_advertisers=advertisers,
                               rivals=tuple((n, c) for (n, _), c in zip(cfg.rivals, counts)))


def plain_args(args) -> dict:
    "The arguments as JSON can hold them: the arenas as their fields."
    return {k: to_dict(v) if isinstance(v, ArenaConfig) else v for k, v in vars(args).items()}


def arena_fields(args) -> tuple[ArenaConfig, ArenaConfig]:
    "The training arena (`--advertisers`, then `--arena`'s fields) and the evaluation's (`--eval-rivals`, if given)."
    fields = parse_yaml(args.arena, "--arena") if args.arena.strip() else {}
    if not isinstance(fields, dict): raise ValueError(f"--arena: {args.arena!r} must be a YAML mapping, "
                                                      "e.g. '{auction: first_price}'")
    if "num_advertisers" in fields: raise ValueError("--arena: set num_advertisers with --advertisers")
    try: cfg = from_dict(ArenaConfig, {**to_dict(arena(args.advertisers)), **fields})
    except ValueError as e: raise ValueError(f"--arena: {e}") from None
    if not args.eval_rivals.strip(): return cfg, cfg
    try:   # the arena's own field, read as --arena's fields are
        evaluation = from_dict(ArenaConfig, {**to_dict(cfg), "rivals": parse_yaml(args.eval_rivals, "--eval-rivals")})
        check_rivals(evaluation)
    except ValueError as e: raise ValueError(f"--eval-rivals: {e}") from None
    return cfg, evaluation


def population_section(args, cfg: ArenaConfig) -> None:
    "The welfare question (chapter 37): k learners of one shared network, the rest the tuned rival mix."
    start, K = time.perf_counter(), args.population
    ks = sorted({0, K, *(2 ** i for i in range(K.bit_length()) if 2 ** i <= K)})
    training = LearnerTraining(days=args.train_days, val_days=args.val_days,
                               eval_every=max(LearnerTraining.num_envs, args.train_days // 4))
    frame, seats = population_welfare(cfg, ks, training, days=args.eval_days, seed=args.seed,
                                      train_seed=args.first_seed, gate=args.population_gate,
                                      progress=sys.stderr.isatty())
    summary = welfare_summary(frame, seed=args.seed)
    for r in summary.itertuples():
        if r.n: print(f"population_k{r.k}_{r.metric}: {r.mean:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]")
    for k, s in seats.items():
        print(f"population_k{k}_train_wall_s: {s.fit_seconds:.1f}")
        print(f"population_k{k}_eval_wall_s: {s.eval_seconds:.1f}")
        if k: print(f"population_k{k}_gate: " + (f"agent after {s.chosen} days" if s.gate["keep"] else "pacer alone"))
    print(f"total_wall_s: {time.perf_counter() - start:.1f}")
    out = {"args": plain_args(args), "ks": ks, "summary": summary.to_dict("records"),
           "gate": {k: bool(s.gate["keep"]) for k, s in seats.items() if k}}
    if args.out: atomic_write(args.out, json.dumps(out, indent=2, default=float))


def main(argv=None):
    args = parse(argv)
    if args.population: return population_section(args, args.cfg)
    cfg, start = args.cfg, time.perf_counter()
    tune = seed_streams(args.seed).tune
    baselines = {"dual_seat": seat_tuned_dual(cfg, tune), **{n: fitted_policy(cfg, n, tune) for n in BASELINES[1:]}}
    print(f"tuning_wall_s: {time.perf_counter() - start:.1f}")
    print(f"dual_seat_aim: {baselines['dual_seat'].aim}")
    if args.learner == "residual":
        training = LearnerTraining(days=args.train_days, val_days=args.val_days,
                                   eval_every=max(LearnerTraining.num_envs, args.train_days // 4))
        make = lambda k, variant: ResidualSeats(training, seed=k, progress=sys.stderr.isatty())
    elif args.learner == "system":
        def make(k, variant):
            training = SystemTraining(days=args.train_days, val_days=max(2, args.val_days),
                                      eval_every=max(SystemTraining.num_envs, args.train_days // 4))
            if variant != "full": training = training.ablation(variant)
            return SystemSeats(training, seed=k, progress=sys.stderr.isatty())
    else:
        def make(k, variant):
            spec = dict(VARIANTS[variant])
            pacer, worlds = spec.pop("pacer", "seat"), spec.pop("worlds", None)
            training = ImitationTraining(val_days=max(2, args.val_days), **spec)
            if worlds is None: return ImitationSeats(training, seed=k, progress=sys.stderr.isatty(), pacer=pacer)
            return RandomisedImitationSeats(training, TrainingWorlds(**worlds), seed=k, progress=sys.stderr.isatty(),
                                            pacer=pacer)
    learners = {}
    for variant in args.variants:
        for k in range(args.first_seed, args.first_seed + args.seeds):
            name = f"learner_{k}" if variant == "full" else f"{variant}_{k}"
            seat = learners[name] = make(k, variant).fit(cfg, tune)
            best = max(h["validation"] for h in seat.history[1:])
            print(f"{name}_training_days: {seat.trained_days}")
            print(f"{name}_train_wall_s: {seat.fit_seconds:.1f}")
            print(f"{name}_validation_pacer: {seat.history[0]['validation']:.4f}")
            print(f"{name}_validation_best_agent: {best:.4f}")
            unit = "round" if args.learner == "imitation" else "days"
            print(f"{name}_gate: " + (f"agent after {seat.chosen} {unit}" if seat.use_agent else "pacer alone"))
            if seat.gate["candidate"] is not None:  # the candidate checkpoint against the bare pacer, confirmation days
                g = seat.gate
                print(f"{name}_confirm: {g['diff']:+.4f} [{g['low']:.4f}, {g['high']:.4f}] over {g['days']} days, "
                      f"one-sided p {g['p_one_sided']:.4f}")
    ungated = {f"{n}_ungated": s.ungated() for n, s in learners.items()} if args.ungated else {}
    t0 = time.perf_counter()
    policies = {**learners, **ungated, **baselines}
    if args.eval_cfg == cfg: ev = evaluate_arena(policies, cfg, days=args.eval_days, seed=args.seed)
    else:                    # a held-out rival mix: every policy as trained or tuned on cfg, the new rivals tuned
        print("eval_rivals: " + ", ".join(f"{n} {c}" for n, c in args.eval_cfg.rivals))
        ev = evaluate_arena(policies, args.eval_cfg, days=args.eval_days, seed=args.seed,
                            fit=False, fit_rivals=True)
    print(f"eval_wall_s: {time.perf_counter() - t0:.1f}")
    summary = arena_summary(ev).set_index(["agent", "metric"])
    out = {"args": plain_args(args), "pct_of_bound": {}, "cpa_violation": {}, "learners": {}}
    for agent in [*learners, *ungated, *baselines, "reference"]:
        r = summary.loc[(agent, "pct_of_bound")]
        out["pct_of_bound"][agent] = [float(r["mean"]), float(r["ci_low"]), float(r["ci_high"])]
        out["cpa_violation"][agent] = float(summary.loc[(agent, "cpa_violation"), "mean"])
        print(f"pct_of_bound_{agent}: {r['mean']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]")
        print(f"cpa_violation_{agent}: {out['cpa_violation'][agent]:.3f}")
    reports = learner_reports(ev, learners, BASELINES, seed=args.seed)     # Holm-corrected over the learners
    for name, rep in reports.items():
        out["learners"][name] = {**rep, "history": learners[name].history}
        (tlo, thi), (blo, bhi) = rep["minus_best_t_ci"], rep["minus_best_boot_ci"]
        print(f"{name}_best_baseline: {rep['best_baseline']}")
        print(f"{name}_minus_best: {rep['minus_best']:.2f} t-CI [{tlo:.2f}, {thi:.2f}] "
              f"bootstrap [{blo:.2f}, {bhi:.2f}], paired p {rep['p_value']:.3g}, Holm p {rep['p_holm']:.3g}")
        print(f"{name}_gap_closed: {rep['gap_closed']:.3f}")
        if (mc := rep["cpa_violation_vs_best"]) is not None:   # paired days: only one of the two above its target
            print(f"{name}_cpa_violation_vs_best: {mc['estimate']:+.3f} (days only the learner violates "
                  f"{mc['only_a']}, only {rep['best_baseline']} {mc['only_b']}; McNemar p {mc['p_value']:.3g})")
    for variant in args.variants:
        for k in range(args.first_seed, args.first_seed + args.seeds):
            base = variant.rsplit("+", 1)[0] if "+" in variant else "full"   # 'a+b' is paired with a
            if base not in args.variants: base = "full"
            other = f"learner_{k}" if base == "full" else f"{base}_{k}"
            if variant == "full" or other not in learners: continue
            name = f"{variant}_{k}"
            pairs = [(base, name, other)]
            if ungated:   # what the part is worth to the agents themselves, gates aside
                pairs.append((f"{base}_ungated", f"{name}_ungated", f"{other}_ungated"))
            for label, agent, full in pairs:
                rep = learner_report(ev, agent, (full,), seed=args.seed)
                tlo, thi = rep["minus_best_t_ci"]
                out["learners"][name][f"minus_{label}"] = [rep["minus_best"], tlo, thi, rep["p_value"]]
                print(f"{agent}_minus_{label}: {rep['minus_best']:.2f} t-CI [{tlo:.2f}, {thi:.2f}], "
                      f"paired p {rep['p_value']:.3g}")
        diffs = [r["minus_best"] for n, r in reports.items() if n.rsplit("_", 1)[0] == ("learner" if variant == "full"
                                                                                         else variant)]
        print(f"{variant}_mean_minus_best: {sum(diffs) / len(diffs):.2f} over {len(diffs)} seeds "
              f"(min {min(diffs):.2f}, max {max(diffs):.2f})")
    print(f"total_wall_s: {time.perf_counter() - start:.1f}")
    if args.out: atomic_write(args.out, json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
