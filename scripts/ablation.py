r"""The paper's pathway and fusion ablation, in miniature, on the demo task.

  python scripts/ablation.py --out /tmp/ablation

Trains Slow-only, Fast-only and SlowFast with each of the three Fast→Slow
fusions (time-to-channel, time-strided sampling, time-strided convolution)
with the demo recipe (`configs/demo.py`), 3 seeds each, tests every run with
`eval.py` (10 × 3 views) and writes, in `--out`:

  ablation.md    the table: top-1 mean ± standard deviation over seeds, on
                 all classes and on the fast and slow classes, MFLOPs per
                 view, parameters, and the paper's Kinetics-400 top-1; then
                 a row per run (`train.py` wall time, last validation
                 top-1, 10 × 3-view top-1s);
  ablation.json  the same, with every run's figures;
  ablation.png   a bar chart of the top-1s.

Each run is `python train.py ...` then `python eval.py ...` in its own
process, in `--out/runs/VARIANT_sSEED`. A run whose `eval/results.json`
exists is not repeated, so an interrupted ablation resumes where it
stopped. `--train_override=--config.FIELD=VALUE` (repeatable) is passed to
train.py, `--eval_override=...` to eval.py (which reads the run's config).
"""

import json
import os
import pathlib
import subprocess
import sys
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# pylint: disable=g-import-not-at-top,wrong-import-position
from slowfast_jax import checkpoint
from slowfast_jax import checkpoint_config
from slowfast_jax import summary
# pylint: enable=g-import-not-at-top,wrong-import-position

# name: (config file, train.py flags, paper top-1).
# Paper: Feichtenhofer et al. 2019, Table 5a (Kinetics-400, 4×16 R-50;
# its fusions concatenate, as here).
VARIANTS = {
    "slow_only": ("configs/demo.py:slow", (), 72.6),
    "fast_only": ("configs/demo.py:fast", (), 51.7),
    "slowfast_time_to_channel": (
        "configs/demo.py", ("--config.model.fusion=time_to_channel",), 74.3),
    "slowfast_time_strided_sample": (
        "configs/demo.py", ("--config.model.fusion=time_strided_sample",),
        75.4),
    "slowfast_time_strided_conv": ("configs/demo.py", (), 75.6),
}
RESULTS = "eval/results.json"
WALL_SECONDS = "wall_seconds.json"  # {"train.py": s, "eval.py": s}

_OUT = flags.DEFINE_string("out", None, "Directory for the runs and results.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of each variant.")
_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS),
                              f"Variants to run, of {list(VARIANTS)}.")
_TRAIN_OVERRIDES = flags.DEFINE_multi_string(
    "train_override", [], "`--config.FIELD=VALUE` for train.py.")
_EVAL_OVERRIDES = flags.DEFINE_multi_string(
    "eval_override", [], "`--config.FIELD=VALUE` for eval.py.")
flags.mark_flag_as_required("out")


def run_variant(name: str, seed: int, workdir: pathlib.Path) -> None:
  """Trains and tests one variant; skipped if its results exist."""
  if (workdir / RESULTS).exists():
    logging.info("%s seed %d: done before, kept.", name, seed)
    return
  config_file, variant_flags, _ = VARIANTS[name]
  commands = [
      ["train.py", f"--config={config_file}", f"--workdir={workdir}",
       f"--config.seed={seed}", *variant_flags, *_TRAIN_OVERRIDES.value],
      ["eval.py", f"--checkpoint={workdir}", f"--output={workdir / 'eval'}",
       *_EVAL_OVERRIDES.value],
  ]
  workdir.mkdir(parents=True, exist_ok=True)
  wall = {}
  for command in commands:
    log = workdir / f"{command[0].removesuffix('.py')}.log"
    start = time.time()
    with open(log, "w") as f:
      done = subprocess.run([sys.executable, *command], cwd=ROOT, stdout=f,
                            stderr=subprocess.STDOUT, check=False)
    if done.returncode:
      raise RuntimeError(f"{name} seed {seed}: {command[0]} exited "
                         f"{done.returncode}; see {log}.")
    wall[command[0]] = round(time.time() - start, 1)
    logging.info("%s seed %d: %s done in %.0f s.", name, seed, command[0],
                 wall[command[0]])
  (workdir / WALL_SECONDS).write_text(json.dumps(wall) + "\n")


def read_run(workdir: pathlib.Path) -> dict[str, float]:
  """A run's 10 × 3-view top-1 on all, fast and slow classes, its last
  validation top-1 (one centre view) and its `train.py` wall time."""
  results = json.loads((workdir / RESULTS).read_text())
  scores = np.load(workdir / "eval" / "scores.npz")
  correct = scores["scores"].argmax(-1) == scores["label"]
  # The class is the video's folder, e.g. "val/left_fast/0003.mp4".
  fast = np.array(["_fast/" in v for v in scores["video_id"]])
  train = json.loads((workdir / "train_summary.json").read_text())
  wall_file = workdir / WALL_SECONDS
  wall = json.loads(wall_file.read_text()) if wall_file.exists() else {}
  return {"top1": float(results["top1"]),
          "fast_top1": float(correct[fast].mean()),
          "slow_top1": float(correct[~fast].mean()),
          "val_top1": float(train["val_top1"]),
          "train_seconds": float(train["seconds"]),
          "train_wall_seconds": wall.get("train.py")}


def model_counts(workdir: pathlib.Path) -> dict[str, float]:
  """MFLOPs per view and parameters of the model a run trained."""
  directory, step = checkpoint.find_step(str(workdir))
  config = checkpoint_config.stored_config(
      checkpoint.read_metadata(directory, step), str(workdir))
  counts = summary.model_summary(config)
  return {"mflops": counts["gflops"] * 1e3, "params": counts["params"]}


def summarize(name: str, runs: list[dict[str, float]],
              counts: dict[str, float]) -> dict:
  """Mean and standard deviation over seeds of each figure."""
  row = {"variant": name, "paper_top1": VARIANTS[name][2], **counts,
         "runs": runs}
  for key in ("top1", "fast_top1", "slow_top1"):
    values = np.array([r[key] for r in runs])
    row[key] = float(values.mean())
    row[f"{key}_std"] = float(values.std())
  return row


def markdown(rows: list[dict], seeds: list[int]) -> str:
  lines = [
      f"Demo task, 10 × 3-view top-1, mean ± std over seeds {seeds}; paper: "
      "Kinetics-400, Table 5a (4×16 R-50).",
      "",
      "| variant | MFLOPs / view | params | top-1 | fast classes | "
      "slow classes | paper top-1 |",
      "|---|---|---|---|---|---|---|",
  ]
  for r in rows:
    figures = " | ".join(f"{r[k]:.3f} ± {r[k + '_std']:.3f}"
                         for k in ("top1", "fast_top1", "slow_top1"))
    lines.append(f"| {r['variant']} | {r['mflops']:.1f} | {r['params']:,} | "
                 f"{figures} | {r['paper_top1']:.1f} |")
  lines += [
      "",
      "Every run: `train.py` wall time, validation top-1 at the last step "
      "(one centre view), 10 × 3-view top-1 on all, fast and slow classes.",
      "",
      "| variant | seed | `train.py` wall | val top-1 | 10 × 3 top-1 | "
      "fast classes | slow classes |",
      "|---|---|---|---|---|---|---|",
  ]
  for r in rows:
    for run in r["runs"]:
      seconds = run.get("train_wall_seconds")
      wall = ("" if seconds is None else
              f"{int(seconds) // 60} min {int(seconds) % 60:02d} s")
      lines.append(
          f"| {r['variant']} | {run['seed']} | {wall} | "
          f"{run['val_top1']:.3f} | {run['top1']:.3f} | "
          f"{run['fast_top1']:.3f} | {run['slow_top1']:.3f} |")
  return "\n".join(lines) + "\n"


def bar_chart(rows: list[dict], path: pathlib.Path) -> None:
  """Top-1 per variant (all, fast, slow classes) with ±std error bars."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  keys = (("top1", "all classes"), ("fast_top1", "fast classes"),
          ("slow_top1", "slow classes"))
  x = np.arange(len(rows))
  width = 0.27
  fig, ax = plt.subplots(figsize=(9, 4))
  for i, (key, label) in enumerate(keys):
    ax.bar(x + (i - 1) * width, [r[key] for r in rows], width,
           yerr=[r[f"{key}_std"] for r in rows], capsize=3, label=label)
  names = [r["variant"].replace("slowfast_", "SlowFast\n").replace("_", " ")
           for r in rows]
  ax.set_xticks(x, [f"{n}\n{r['mflops']:.1f} MFLOPs"
                    for n, r in zip(names, rows)], fontsize=8)
  ax.set_ylabel("10 × 3-view top-1")
  ax.set_ylim(0, 1.05)
  ax.set_title("Pathways and fusions on the demo task (mean ± std over seeds)")
  ax.legend(loc="lower right", fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  unknown = [v for v in _VARIANTS.value if v not in VARIANTS]
  if unknown:
    raise app.UsageError(f"--variants: {unknown} not in {list(VARIANTS)}.")
  out = pathlib.Path(_OUT.value).resolve()
  seeds = [int(s) for s in _SEEDS.value]
  total = len(_VARIANTS.value) * len(seeds)
  rows = []
  for name in _VARIANTS.value:
    runs = []
    for seed in seeds:
      workdir = out / "runs" / f"{name}_s{seed}"
      logging.info("Run %d of %d: %s seed %d.", len(rows) * len(seeds) +
                   len(runs) + 1, total, name, seed)
      try:
        run_variant(name, seed, workdir)
      except RuntimeError as e:  # One line: which run and its log.
        sys.exit(f"error: {e}")
      runs.append({"seed": seed, **read_run(workdir)})
    rows.append(summarize(name, runs, model_counts(workdir)))
  (out / "ablation.json").write_text(json.dumps(rows, indent=2) + "\n")
  (out / "ablation.md").write_text(markdown(rows, seeds))
  bar_chart(rows, out / "ablation.png")
  print(markdown(rows, seeds), end="")
  print(f"Wrote {out / 'ablation.md'}, ablation.json and ablation.png.")


if __name__ == "__main__":
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  app.run(main)
