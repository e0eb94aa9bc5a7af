"""Bad input through the real CLI (issue 19): a table of hostile or careless inputs, each refused with exit code 2 and
one short message that names the field, row or file — no traceback, nothing written, within 2 GB and 30 seconds."""
import gzip
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ADRL = str(Path(sys.executable).with_name("adrl"))  # the console script, as a user runs it
MEMORY = 2 << 30  # bytes of address space each case may use
TIMEOUT = 30  # seconds each case may take
MAX_MESSAGE = 2_000  # characters a refusal may print

HEADER = "episode,slot,channel,pctr,pcvr,price,click,conversion\n"
ROW = "1,0,0,0.01,0.1,0.5,0,0\n"


def _bomb(levels: int = 9) -> str:
    "A 'billion laughs' as one YAML flow list: `levels` anchors, each nine aliases of the one before (9**levels)."
    parts = ["&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    parts += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return f"[{', '.join(parts)}]"


def _files(w: Path) -> None:
    "The inputs of the table, under the work folder `w`."
    from adrl._testing import make_synthetic_run
    make_synthetic_run(w / "runs" / "good", episodes=60)
    good = (w / "runs" / "good" / "metrics.csv").read_text()
    for name, text in {"garbage": good.replace("\n3,", "\n3,x", 1), "cut": good[:-20]}.items():
        make_synthetic_run(w / "runs" / name, episodes=60)
        (w / "runs" / name / "metrics.csv").write_text(text)
    (w / "reports" / "old").mkdir(parents=True)
    (w / "reports" / "old" / "metrics.json").write_text('{"kept": true}\n')
    (w / "a_file").write_text("not a folder\n")
    cfg = w / "cfg"
    cfg.mkdir()
    texts = {
        "typo.yaml": "environment:\n  inital_budget: 5\n",
        "section_typo.yaml": "enviroment:\n  max_steps: 5\n",
        "dup_key.yaml": "environment:\n  max_steps: 5\n  initial_budget: 100\n  max_steps: 6\n",
        "dup_section.yaml": "environment:\n  max_steps: 5\nagent:\n  gamma: 0.9\nenvironment:\n  max_steps: 6\n",
        "bomb.yaml": f"environment:\n  auction: {_bomb()}\n",
        "recursive.yaml": "environment:\n  auction: &a [*a]\n",
        "syntax.yaml": "environment:\n  max_steps: [5\n  initial_budget: 1\n",
        "list.yaml": "- 1\n- 2\n",
        "tag.yaml": "environment: !!python/object/apply:os.system [echo hi]\n",
        "deep.yaml": "environment:\n  auction: " + "[" * 5_000 + "]" * 5_000 + "\n",
        "nul.yaml": "environment:\n  max_steps: 5\x00\n",
    }
    for name, text in texts.items(): (cfg / name).write_text(text)
    (cfg / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (cfg / "latin1.yaml").write_bytes("environment:\n  auction: enchère\n".encode("latin-1"))
    logs = w / "logs"
    logs.mkdir()
    (logs / "folder.csv").mkdir()
    csv = {
        "good.csv": HEADER + ROW + "1,1,0,0.02,0.1,0.7,1,0\n",
        "extra.csv": HEADER + ROW + "1,0,0,0.01,0.1,0.5,0,0,7\n" + ROW,
        "extra1.csv": HEADER + "1,0,0,0.01,0.1,0.5,0,0,7\n" + ROW,
        "dup.csv": "episode,slot,channel,pctr,pcvr,price,price,click,conversion\n1,0,0,0.01,0.1,0.5,9,0,0\n",
        "dup_case.csv": "episode,slot,channel,pctr,pcvr,price, Price ,click,conversion\n1,0,0,0.01,0.1,0.5,9,0,0\n",
        "price_1e13.csv": HEADER + ROW + "1,0,0,0.01,0.1,1e13,0,0\n",
        "price_sum.csv": HEADER + "1,0,0,0.01,0.1,9e9,0,0\n" * 1_100,
        "slot_1e19.csv": HEADER + ROW + "1,1e19,0,0.01,0.1,0.5,0,0\n",
        "slot_1e8.csv": HEADER + ROW + "1,100000000,0,0.01,0.1,0.5,0,0\n",
        "channel_1e19.csv": HEADER + ROW + "1,0,1e19,0.01,0.1,0.5,0,0\n",
        "negative_price.csv": HEADER + ROW + "1,0,0,0.01,0.1,-0.5,0,0\n",
        "negative_slot.csv": HEADER + ROW + "1,-1,0,0.01,0.1,0.5,0,0\n",
        "pctr.csv": HEADER + ROW + "1,0,0,1.5,0.1,0.5,0,0\n",
        "text_price.csv": HEADER + ROW + "1,0,0,0.01,0.1," + "x" * 50_000 + ",0,0\n",
        "quote.csv": HEADER + '1,0,"0,0.01,0.1,0.5,0,0\n',
        "missing_column.csv": "episode,slot,channel,pctr,price\n1,0,0,0.01,0.5\n",
        "empty.csv": "",
        "auctions.txt": HEADER + ROW,
        "plain.csv.gz": HEADER + ROW,
        "text.parquet": HEADER + ROW,
    }
    for name, text in csv.items(): (logs / name).write_text(text)
    (logs / "latin1.csv").write_bytes((HEADER + "1,0,caf\xe9,0.01,0.1,0.5,0,0\n").encode("latin-1"))
    (logs / "binary.csv").write_bytes(bytes(range(256)) * 16)
    (logs / "corrupt.csv.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 20)
    whole = gzip.compress((HEADER + "".join(f"1,{i % 48},0,0.01,0.1,{i / 7:.6f},0,0\n" for i in range(5_000))).encode())
    (logs / "truncated.csv.gz").write_bytes(whole[:len(whole) // 2])
    (logs / "garbage.parquet").write_bytes(b"PAR1" + b"\x00garbage" * 10 + b"PAR1")
    import pyarrow as pa
    import pyarrow.parquet as pq
    cols = {"episode": [1], "slot": [0], "channel": [0], "pctr": [0.01], "pcvr": [0.1], "price": [0.5]}
    pq.write_table(pa.table({**cols, "slot": [2 ** 62]}), logs / "slot_huge.parquet")
    pq.write_table(pa.table(list(cols.values()) + [[9.0]], names=[*cols, "price"]), logs / "dup.parquet")
    pq.write_table(pa.table({**cols, "price": [[0.5, 0.6]]}), logs / "list_price.parquet")


ARENA = ["evaluate", "--market", "arena", "--episodes", "2", "-o"]
LOG = ["auction-log"]
CASES = [  # (id, arguments, what the message must contain); argparse's own refusals are marked with a leading "!"
    # config values out of range, several sections
    ("budget-negative", ["config", "-o", "environment.initial_budget=-5"], ["environment.initial_budget", "range"]),
    ("gamma-above-one", ["config", "-o", "agent.gamma=1.5"], ["agent.gamma: 1.5"]),
    ("num-envs-zero", ["config", "-o", "experiment.num_envs=0"], ["experiment.num_envs: 0"]),
    ("win-rate-above-one", ["config", "-o", "monitoring.min_win_rate=2"], ["monitoring.min_win_rate"]),
    ("channel-ctr", ["config", "-o", "environment.channels=[{name: a, ctr: 2}]"], ["environment.channels[0].ctr"]),
    ("threads-negative", ["config", "-o", "threads=-1"], ["threads: -1"]),
    ("epsilon-order", ["config", "-o", "agent.epsilon_start=0.1", "-o", "agent.epsilon_end=0.5"],
     ["agent.epsilon_end"]),
    ("batch-over-buffer", ["config", "-o", "agent.batch_size=128", "-o", "agent.buffer_size=100"],
     ["agent.batch_size"]),
    # unknown keys and sections
    ("unknown-key-file", ["config", "--config", "cfg/typo.yaml"], ["environment.inital_budget", "initial_budget"]),
    ("unknown-section-file", ["config", "--config", "cfg/section_typo.yaml"], ["enviroment", "environment"]),
    ("unknown-key-override", ["config", "-o", "agent.gama=0.9"], ["agent.gama: unknown key"]),
    ("unknown-section-override", ["config", "-o", "envronment.max_steps=1"], ["envronment: unknown section"]),
    ("override-into-a-value", ["config", "-o", "device.kind=cpu"], ["device: unknown section"]),
    ("override-without-equals", ["config", "-o", "agent.gamma"], ["agent.gamma", "section.field=value"]),
    ("override-empty-key", ["config", "-o", "=5"], ["'=5'", "section.field=value"]),
    # bad types
    ("int-as-text", ["config", "-o", "environment.max_steps=abc"], ["environment.max_steps", "integer"]),
    ("int-as-fraction", ["config", "-o", "environment.max_steps=2.5"], ["environment.max_steps: 2.5"]),
    ("bool-as-text", ["config", "-o", "agent.dueling=maybe"], ["agent.dueling", "true or false"]),
    ("not-a-number", ["config", "-o", "agent.learning_rate=.nan"], ["agent.learning_rate", "finite"]),
    ("section-as-number", ["config", "-o", "agent=5"], ["agent", "mapping"]),
    ("device-unknown", ["config", "-o", "device=tpu"], ["device: 'tpu'"]),
    ("choice-unknown", ["config", "-o", "environment.auction=vickrey"], ["environment.auction: 'vickrey'"]),
    ("int-400-digits-in-a-float-field", ["config", "-o", "environment.initial_budget=1" + "0" * 400],
     ["environment.initial_budget", "finite"]),
    ("int-5000-digits", ["config", "-o", "experiment.random_seed=" + "9" * 5_000], ["experiment.random_seed"]),
    ("value-100k-long", ["config", "-o", "environment.auction=" + "x" * 100_000], ["environment.auction: 'xxx"]),
    ("list-100k-long", ["config", "-o", "arena.exposure=[" + "1," * 50_000 + "1]"], ["arena.exposure"]),
    # YAML: duplicates, aliases, not text, not YAML
    ("duplicate-key", ["config", "--config", "cfg/dup_key.yaml"], ["cfg/dup_key.yaml", "duplicate key 'max_steps'"]),
    ("duplicate-section", ["config", "--config", "cfg/dup_section.yaml"], ["duplicate key 'environment'"]),
    ("duplicate-key-override", ["config", "-o", "arena.rivals={dual: 40, dual: 7}"],
     ["arena.rivals", "duplicate key 'dual'"]),
    ("alias-bomb-file", ["config", "--config", "cfg/bomb.yaml"], ["cfg/bomb.yaml", "aliases"]),
    ("alias-bomb-override", ["config", "-o", "arena.exposure=" + _bomb()], ["arena.exposure", "aliases"]),
    ("alias-recursive", ["config", "--config", "cfg/recursive.yaml"], ["cfg/recursive.yaml", "inside its own anchor"]),
    ("binary-config", ["config", "--config", "cfg/binary.yaml"], ["cfg/binary.yaml", "not a text file"]),
    ("nul-in-config", ["config", "--config", "cfg/nul.yaml"], ["cfg/nul.yaml", "not a text file"]),
    ("latin1-config", ["config", "--config", "cfg/latin1.yaml"], ["cfg/latin1.yaml", "UTF-8"]),
    ("endless-config", ["config", "--config", "/dev/zero"], ["/dev/zero"]),
    ("config-is-a-folder", ["config", "--config", "cfg"], ["cfg: cannot read the config file"]),
    ("config-missing", ["config", "--config", "cfg/nope.yaml"], ["cfg/nope.yaml: cannot read"]),
    ("yaml-syntax", ["config", "--config", "cfg/syntax.yaml"], ["cfg/syntax.yaml", "line 3"]),
    ("yaml-not-a-mapping", ["config", "--config", "cfg/list.yaml"], ["cfg/list.yaml", "mapping"]),
    ("yaml-python-tag", ["config", "--config", "cfg/tag.yaml"], ["cfg/tag.yaml", "python/object"]),
    ("yaml-nested-deep", ["config", "--config", "cfg/deep.yaml"], ["cfg/deep.yaml", "deep"]),
    ("override-unparsable", ["config", "-o", "agent.gamma=[1,"], ["agent.gamma", "not valid YAML"]),
    ("override-unparsable-flow", ["config", "-o", "arena.exposure={a"], ["arena.exposure", "not valid YAML"]),
    ("override-python-tag", ["config", "-o", "agent.gamma=!!python/object/apply:os.system [echo]"],
     ["agent.gamma", "python/object"]),
    # the arena and the market
    ("market-unknown", ["evaluate", "--market", "moon"], ["!", "--market", "'moon'"]),
    ("arena-more-slots-than-advertisers", [*ARENA, "arena.num_slots=49"], ["arena.num_slots: 49"]),
    ("arena-exposure-increasing", [*ARENA, "arena.exposure=[0.6,0.8,1.0]"], ["arena.exposure", "non-increasing"]),
    ("arena-delay-negative", [*ARENA, "arena.delay=[1.2,-0.2]"], ["arena.delay"]),
    ("arena-rival-unknown", [*ARENA, "arena.rivals=[[smart,47]]"], ["arena.rivals", "smart"]),
    ("arena-rival-seats", [*ARENA, "arena.rivals=[[dual,10]]"], ["arena.rivals", "sum"]),
    ("arena-agent-unknown", ["evaluate", "--market", "arena", "--agents", "dual,oracle"], ["--agents", "'oracle'"]),
    # seeds, episodes, agents
    ("episodes-zero", ["evaluate", "--episodes", "0"], ["--episodes: 0"]),
    ("episodes-negative", ["evaluate", "--market", "arena", "--episodes", "-3"], ["--episodes: -3"]),
    ("episodes-text", ["evaluate", "--episodes", "ten"], ["!", "--episodes", "'ten'"]),
    ("seed-negative", ["evaluate", "--seed", "-1"], ["--seed: -1"]),
    ("seed-negative-arena", ["evaluate", "--market", "arena", "--seed", "-1"], ["--seed: -1"]),
    ("seed-text", ["train", "--out", "runs/new", "--seed", "x"], ["!", "--seed", "'x'"]),
    ("agents-unknown", ["evaluate", "--agents", "fixed,smart"], ["--agents", "'smart'"]),
    ("agents-100k-long", ["evaluate", "--agents", "x" * 100_000], ["--agents"]),
    # outputs that cannot be written
    ("evaluate-out-is-a-folder", ["evaluate", "--out", "runs"], ["--out runs", "folder"]),
    ("evaluate-out-folder-missing", ["evaluate", "--out", "no/such/r.json"], ["--out no/such/r.json"]),
    ("evaluate-out-inside-a-file", ["evaluate", "--out", "a_file/r.json"], ["--out a_file/r.json", "a_file"]),
    ("evaluate-out-unwritable", ["evaluate", "--out", "/sys/adrl-r.json"], ["--out /sys/adrl-r.json"]),
    ("train-json", ["train", "--out", "runs/new", "--json"], ["!", "--json"]),
    ("train-out-is-a-file", ["train", "--out", "a_file"], ["--out a_file", "file"]),
    ("train-out-inside-a-file", ["train", "--out", "a_file/run"], ["--out a_file/run", "a_file"]),
    ("train-out-unwritable", ["train", "--out", "/sys/adrl-run"], ["--out /sys/adrl-run"]),
    ("train-episodes-zero", ["train", "--out", "runs/new", "--episodes", "0"], ["--episodes: 0"]),
    ("train-seed-negative", ["train", "--out", "runs/new", "--seed", "-1"], ["experiment.random_seed: -1"]),
    ("train-duplicate-key", ["train", "--out", "runs/new", "--config", "cfg/dup_key.yaml"], ["'max_steps'"]),
    ("analyze-out-inside-a-file", ["analyze", "runs/good", "--offline", "--out", "a_file/insights.md"],
     ["--out a_file/insights.md", "a_file"]),
    ("analyze-out-is-a-file", ["analyze", "runs/good", "--offline", "--out", "a_file"], ["--out a_file", "file"]),
    ("analyze-out-unwritable", ["analyze", "runs/good", "--offline", "--out", "/sys/adrl"], ["--out /sys/adrl"]),
    ("report-out-root-is-a-file", ["report", "--preset", "smoke", "--out-root", "a_file"], ["--out-root a_file"]),
    ("report-out-root-unwritable", ["report", "--preset", "smoke", "--out-root", "/sys/adrl-reports"],
     ["--out-root /sys/adrl-reports"]),
    # auction logs (chapter 12)
    ("log-gz-corrupt", [*LOG, "logs/corrupt.csv.gz"], ["corrupt.csv.gz", "gzip"]),
    ("log-gz-not-gzip", [*LOG, "logs/plain.csv.gz"], ["plain.csv.gz", "gzip"]),
    ("log-gz-truncated", [*LOG, "logs/truncated.csv.gz"], ["truncated.csv.gz"]),
    ("log-parquet-garbage", [*LOG, "logs/garbage.parquet"], ["garbage.parquet", "Parquet"]),
    ("log-parquet-is-text", [*LOG, "logs/text.parquet"], ["text.parquet", "Parquet"]),
    ("log-parquet-duplicate-column", [*LOG, "logs/dup.parquet"], ["dup.parquet", "'price'", "twice"]),
    ("log-parquet-huge-slot", [*LOG, "logs/slot_huge.parquet"], ["row 1, column 'slot'"]),
    ("log-parquet-list-value", [*LOG, "logs/list_price.parquet"], ["row 1, column 'price'"]),
    ("log-not-utf8", [*LOG, "logs/latin1.csv"], ["latin1.csv", "UTF-8"]),
    ("log-binary", [*LOG, "logs/binary.csv"], ["binary.csv"]),
    ("log-duplicate-column", [*LOG, "logs/dup.csv"], ["dup.csv, column 'price'", "twice"]),
    ("log-duplicate-column-spelling", [*LOG, "logs/dup_case.csv"], ["column 'price'", "twice"]),
    ("log-too-many-fields", [*LOG, "logs/extra.csv"], ["extra.csv, row 2", "too many fields"]),
    ("log-too-many-fields-row-1", [*LOG, "logs/extra1.csv"], ["extra1.csv, row 1", "too many fields"]),
    ("log-unclosed-quote", [*LOG, "logs/quote.csv"], ["quote.csv"]),
    ("log-huge-price", [*LOG, "logs/price_1e13.csv"], ["row 2, column 'price'"]),
    ("log-prices-overflow-their-sum", [*LOG, "logs/price_sum.csv"], ["column 'price'", "sum"]),
    ("log-huge-slot", [*LOG, "logs/slot_1e19.csv"], ["row 2, column 'slot'"]),
    ("log-absurd-slot", [*LOG, "logs/slot_1e8.csv"], ["row 2, column 'slot'"]),
    ("log-slot-beyond-horizon", [*LOG, "logs/good.csv", "--max-steps", "1"], ["row 2, column 'slot'", "max_steps"]),
    ("log-huge-channel", [*LOG, "logs/channel_1e19.csv"], ["row 2, column 'channel'"]),
    ("log-negative-price", [*LOG, "logs/negative_price.csv"], ["row 2, column 'price'", "negative"]),
    ("log-negative-slot", [*LOG, "logs/negative_slot.csv"], ["row 2, column 'slot'", "negative"]),
    ("log-pctr-above-one", [*LOG, "logs/pctr.csv"], ["row 2, column 'pctr'"]),
    ("log-50k-character-value", [*LOG, "logs/text_price.csv"], ["row 2, column 'price'", "not a number"]),
    ("log-missing-column", [*LOG, "logs/missing_column.csv"], ["column 'pcvr'", "missing"]),
    ("log-empty", [*LOG, "logs/empty.csv"], ["empty.csv", "empty"]),
    ("log-unknown-format", [*LOG, "logs/auctions.txt"], ["auctions.txt", "format"]),
    ("log-missing-file", [*LOG, "logs/nope.csv"], ["nope.csv"]),
    ("log-is-a-folder", [*LOG, "logs/folder.csv"], ["folder.csv"]),
    ("log-price-scale-zero", [*LOG, "logs/good.csv", "--price-scale", "0"], ["--price-scale: 0"]),
    ("log-max-steps-zero", [*LOG, "logs/good.csv", "--max-steps", "0"], ["--max-steps: 0"]),
    # sizes without bounds (issue 19 item 7): refused before anything is allocated
    ("size-episodes", ["train", "--out", "runs/new", "--episodes", "1000000000"], ["--episodes", "<= 1000000"]),
    ("size-num-episodes", ["train", "--out", "runs/new", "-o", "experiment.num_episodes=1000000000000"],
     ["experiment.num_episodes", "<= 1000000"]),
    ("size-eval-episodes", ["evaluate", "--episodes", "100000000"], ["--episodes", "<= 100000"]),
    ("size-arena-eval-episodes", ["evaluate", "--market", "arena", "--episodes", "100000000"], ["--episodes"]),
    ("size-buffer-field", ["train", "--out", "runs/new", "-o", "agent.buffer_size=100000000000"],
     ["agent.buffer_size", "<= 10000000"]),
    ("size-buffer-memory", ["train", "--out", "runs/new", "-o", "agent.buffer_size=9000000"],
     ["agent.buffer_size: 9,000,000", "GiB", "at most 7,895,160"]),
    ("size-width", ["train", "--out", "runs/new", "-o", "agent.hidden_dim=100000"], ["agent.hidden_dim", "<= 4096"]),
    ("size-ppo-width", ["train", "--out", "runs/new", "-o", "agent.ppo_hidden_dim=1000000000"],
     ["agent.ppo_hidden_dim"]),
    ("size-batch", ["train", "--out", "runs/new", "-o", "agent.batch_size=100000000", "-o",
                    "agent.buffer_size=100000000"],
     ["agent.b", "<="]),
    ("size-steps", ["evaluate", "-o", "environment.max_steps=1000000000"], ["environment.max_steps", "<= 86400"]),
    ("size-volume", ["evaluate", "-o", "environment.channels=[{name: a, volume: 1e12}]", "-o",
                     "environment.num_channels=1"], ["environment.channels[0].volume", "<= 1000000"]),
    ("size-traffic", ["evaluate", "-o", "environment.channels=[{name: a, volume: 900000}]", "-o",
                      "environment.num_channels=1"], ["environment.channels", "busiest slot", "at most 400,000"]),
    ("size-parallel-days", ["train", "--out", "runs/new", "-o", "experiment.num_envs=4096"],
     ["experiment.num_envs: 4,096", "at most"]),
    ("size-impressions", [*ARENA, "arena.impressions_per_day=1000000000000"],
     ["arena.impressions_per_day", "<= 10000000"]),
    ("size-arena-cells", [*ARENA, "arena.impressions_per_day=5000000"],
     ["arena.impressions_per_day: 5,000,000", "MAX_ARENA_CELLS"]),
    ("size-categories", [*ARENA, "arena.num_categories=1000000000"], ["arena.num_categories"]),
    ("size-minibatches", ["train", "--out", "runs/new", "-o", "agent.num_minibatches=1000000000"],
     ["agent.num_minibatches"]),
    ("size-system-episodes", ["benchmark", "ipinyou", "--system-episodes", "1000000000"], ["--system-episodes"]),
    # a metrics.csv that is not metrics (issue 19 item 6)
    ("analyze-garbage-metrics", ["analyze", "runs/garbage", "--offline"],
     ["runs/garbage/metrics.csv: line 4, column", "not a number"]),
    ("resume-invalid-config", ["train", "--out", "runs/good", "--resume", "-o", "agent.gamma=7"], ["agent.gamma: 7"]),
    # where grids run, and the studies' databases (issue 18): refused before any job, any worker, any server
    ("report-backend-unknown", ["report", "--preset", "smoke", "--backend", "spark"],
     ["--backend: 'spark' is not one of sequential, process, ray"]),
    ("report-ray-unreachable", ["report", "--preset", "smoke", "--backend", "ray", "--address", "127.0.0.1:1"],
     ["--address: cannot reach a Ray cluster at 127.0.0.1:1"]),
    ("report-address-without-ray", ["report", "--address", "127.0.0.1:1"], ["--address 127.0.0.1:1", "--backend ray"]),
    ("report-address-malformed", ["report", "--backend", "ray", "--address", "head"], ["--address: 'head' must be"]),
    ("hpo-backend-unknown", ["hpo", "--backend", "dask"], ["--backend: 'dask' is not one of"]),
    ("hpo-ray-unreachable", ["hpo", "--backend", "ray", "--address", "127.0.0.1:1"],
     ["--address: cannot reach a Ray cluster at 127.0.0.1:1"]),
    ("hpo-database-unreachable", ["hpo", "--storage", "postgresql://u:p@127.0.0.1:1/db"],
     ["--storage postgresql://u:***@127.0.0.1:1/db", "cannot reach a PostgreSQL server at 127.0.0.1:1"]),
    ("hpo-database-scheme", ["hpo", "--storage", "mongodb://u:p@127.0.0.1/db"],
     ["--storage mongodb://u:***@127.0.0.1/db", "'mongodb' databases are not supported"]),
    ("hpo-storage-not-a-url", ["hpo", "--storage", "optuna.db"], ["--storage 'optuna.db' is not a database URL"]),
    ("hpo-workers-zero", ["hpo", "--workers", "0"], ["--workers: 0 is out of range"]),
    ("hpo-workers-huge", ["hpo", "--workers", "100000"], ["--workers: 100000", "<= 1024"]),
    ("hpo-workers-text", ["hpo", "--workers", "two"], ["!", "--workers", "'two'"]),
    ("hpo-trials-zero", ["hpo", "--trials", "0"], ["--trials: 0 is out of range"]),
    ("hpo-trials-negative", ["hpo", "--trials", "-3", "--workers", "2"], ["--trials: -3"]),
    ("hpo-trials-text", ["hpo", "--trials", "many"], ["!", "--trials", "'many'"]),
    ("hpo-episodes-zero", ["hpo", "--episodes", "0"], ["--episodes: 0"]),
    ("hpo-out-is-a-file", ["hpo", "--out", "a_file"], ["--out a_file", "file"]),
    ("hpo-config-invalid", ["hpo", "-o", "agent.gamma=7"], ["agent.gamma: 7"]),
    ("db-remove-on-start", ["db", "start", "--path", "pg", "--remove"], ["--remove", "db stop"]),
    ("db-path-is-a-file", ["db", "start", "--path", "a_file"], ["--path a_file", "file"]),
    ("db-action-unknown", ["db", "restart"], ["!", "'restart'"]),
]


def _limit() -> None:
    "In the child, before it starts: at most MEMORY bytes of address space."
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def adrl(work: Path, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    "Run the console script in `work`, as a user would, under the memory limit."
    env = dict(os.environ, CREWAI_STORAGE_DIR=str(work.parent / "crewai"), COLUMNS="100")
    return subprocess.run([ADRL, *args], cwd=work, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_limit, env=env)


def snapshot(root: Path) -> dict:
    "Every path under `root` with its bytes (None for a folder)."
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("bad_input") / "work"
    w.mkdir()
    _files(w)
    return w


def test_the_table_is_large_and_its_names_unique():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case, args, expect", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused(work, case, args, expect):
    before = snapshot(work)
    r = adrl(work, *args)
    message = r.stderr.strip()
    assert r.returncode == 2, (r.returncode, message[-3000:], r.stdout[-3000:])
    assert "Traceback" not in r.stderr + r.stdout, message[-3000:]
    assert 0 < len(message) < MAX_MESSAGE, (len(message), message[:3000])
    if expect[0] == "!":                                # argparse: its usage, then one line naming the flag
        expect, last = expect[1:], message.splitlines()[-1]
        assert "error: " in last, message
    else:                                               # ours: exactly one line
        last = message
        assert len(message.splitlines()) == 1 and message.startswith("adrl: error: "), message
    for part in expect: assert part in last, (part, message)
    assert snapshot(work) == before, "a refused command changed the work folder"


def test_evaluate_json_prints_the_document_out_writes(work):
    args = ["evaluate", "--agents", "fixed", "--episodes", "2", "-o", "environment.max_steps=10", "--json"]
    r = adrl(work, *args, "--out", "eval.json", timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc == json.loads((work / "eval.json").read_text())
    assert set(doc) == {"meta", "summary", "episodes"} and "fixed" in doc["summary"]
    (work / "eval.json").unlink()


def test_analyze_warns_about_a_truncated_metrics_file(work):
    before = snapshot(work / "runs")
    r = adrl(work, "analyze", "runs/cut", "--offline", "--out", str(work.parent / "insights.md"), timeout=120)
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stderr.splitlines() if "metrics.csv" in line]
    assert said == ["adrl: warning: runs/cut/metrics.csv: its last line (61) is cut off; analysing the 59 whole "
                    "row(s) it holds"], r.stderr
    assert snapshot(work / "runs") == before


def test_auction_log_reads_a_good_log(work):
    r = adrl(work, "auction-log", "logs/good.csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("logs/good.csv: 2 auctions in 1 episode"), r.stdout
