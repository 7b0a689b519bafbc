r"""No flip, plain flip and label-aware flip on a task where left is not right.

  python scripts/flip_experiment.py --out /tmp/flip

Trains the demo SlowFast (`configs/demo.py`) on a small version of the
synthetic motion task (8 classes: a texture drifting right, left, down or
up, slowly or fast; `--videos_per_class` training videos per class, 20
validation videos per class) three ways, `--seeds` each:

  no_flip           no horizontal flip (the release's SSv2 recipe);
  plain_flip        random horizontal flip, labels unchanged (the Kinetics
                    recipe): a flipped "right" clip moves left but is
                    labelled "right";
  label_aware_flip  random horizontal flip, a flipped clip labelled with its
                    mirror class (`config.data.label_aware_flip`).

Each run is `train.py` then `eval.py` (one centre view per video) in its own
process, in `--out/runs/VARIANT_sSEED`; a run whose results exist is kept.
Writes `--out/flip.md` (top-1 on all classes, on the horizontal classes
(left and right) and on the vertical ones (up and down), and the share of
horizontal videos taken for their mirror class; mean and standard deviation
over seeds) and `--out/flip.json` (every run).
"""

import json
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
from slowfast_jax.data import flip_labels
from slowfast_jax.data import synthetic
# pylint: enable=g-import-not-at-top,wrong-import-position

VARIANTS = {
    "no_flip": (),
    "plain_flip": ("--config.data.random_flip=True",),
    "label_aware_flip": ("--config.data.random_flip=True",
                         "--config.data.label_aware_flip=True"),
}
RESULTS = "eval/results.json"

_OUT = flags.DEFINE_string("out", None, "Directory for the runs and results.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1"], "Seeds of each variant.")
_VIDEOS = flags.DEFINE_integer("videos_per_class", 10,
                               "Training videos per class.")
_EPOCHS = flags.DEFINE_integer("epochs", 80, "Training epochs.")
flags.mark_flag_as_required("out")


def commands(variant: str, seed: int, out: pathlib.Path,
             workdir: pathlib.Path) -> list[list[str]]:
  """`train.py` and `eval.py` command lines of one run."""
  train = [
      "train.py", "--config=configs/demo.py", f"--workdir={workdir}",
      f"--config.seed={seed}", f"--config.data.data_dir={out / 'data'}",
      f"--config.data.name=synthetic_motion_flip_{_VIDEOS.value}",
      f"--config.data.demo_videos_per_class={_VIDEOS.value}",
      "--config.data.demo_val_videos_per_class=20",
      f"--config.num_epochs={_EPOCHS.value}",
      "--config.eval_every_epochs=100000", *VARIANTS[variant]]
  evaluate = ["eval.py", f"--checkpoint={workdir}",
              f"--output={workdir / 'eval'}", "--config.eval.num_clips=1",
              "--config.eval.num_crops=1"]
  return [train, evaluate]


def run(variant: str, seed: int, out: pathlib.Path) -> pathlib.Path:
  """Trains and tests one variant (kept if done before); its workdir."""
  workdir = out / "runs" / f"{variant}_s{seed}"
  if (workdir / RESULTS).exists():
    return workdir
  workdir.mkdir(parents=True, exist_ok=True)
  for command in commands(variant, seed, out, workdir):
    log = workdir / f"{command[0].removesuffix('.py')}.log"
    start = time.time()
    with open(log, "w") as f:
      done = subprocess.run([sys.executable, *command], cwd=ROOT, stdout=f,
                            stderr=subprocess.STDOUT, check=False)
    if done.returncode:
      raise RuntimeError(f"{variant} seed {seed}: {command[0]} exited "
                         f"{done.returncode}; see {log}.")
    logging.info("%s seed %d: %s done in %.0f s.", variant, seed, command[0],
                 time.time() - start)
  return workdir


def read_run(workdir: pathlib.Path) -> dict[str, float]:
  """Top-1 on all, horizontal and vertical classes, mirror confusions."""
  scores = np.load(workdir / "eval" / "scores.npz")
  names = synthetic.CLASS_NAMES
  predicted, label = scores["scores"].argmax(-1), scores["label"]
  mirror = flip_labels.flip_permutation(names)
  horizontal = mirror[label] != label
  correct = predicted == label
  train = json.loads((workdir / "train_summary.json").read_text())
  return {"top1": float(correct.mean()),
          "horizontal_top1": float(correct[horizontal].mean()),
          "vertical_top1": float(correct[~horizontal].mean()),
          "mirror_errors": float(
              (predicted == mirror[label])[horizontal].mean()),
          "train_seconds": float(train["seconds"])}


def markdown(rows: dict[str, list[dict]], seeds: list[int]) -> str:
  keys = ("top1", "horizontal_top1", "vertical_top1", "mirror_errors")
  lines = [
      f"Synthetic motion, {_VIDEOS.value} training videos per class, "
      f"{_EPOCHS.value} epochs; 160 validation videos, one centre view; "
      f"mean ± std over seeds {seeds}.", "",
      "| variant | top-1 | left/right classes | up/down classes | "
      "taken for the mirror class | train time (s) |",
      "|---|---|---|---|---|---|"]
  for variant, runs in rows.items():
    cells = []
    for key in keys:
      values = np.array([r[key] for r in runs])
      cells.append(f"{values.mean():.3f} ± {values.std():.3f}")
    seconds = np.mean([r["train_seconds"] for r in runs])
    lines.append(f"| {variant} | {' | '.join(cells)} | {seconds:.0f} |")
  return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
  del argv
  out = pathlib.Path(_OUT.value).resolve()
  seeds = [int(s) for s in _SEEDS.value]
  rows = {variant: [] for variant in VARIANTS}
  for seed in seeds:
    for variant in VARIANTS:
      rows[variant].append({"seed": seed,
                            **read_run(run(variant, seed, out))})
  (out / "flip.json").write_text(json.dumps(rows, indent=1))
  table = markdown(rows, seeds)
  (out / "flip.md").write_text(table)
  print(table)


if __name__ == "__main__":
  app.run(main)
