"""scripts/ablation.py at tiny sizes: it runs, writes its table, resumes."""

import json
import subprocess
import sys

from configs import demo
import processes

from slowfast_jax import summary

# A few videos, one training step, 2 views: the demo's model at a tiny budget.
TRAIN = ("data.demo_videos_per_class=2", "data.demo_val_videos_per_class=1",
         "num_epochs=1", "global_batch_size=8", "optim.warmup_epochs=0.0",
         "precise_bn.enabled=False", "eval.batch_size=8")
EVAL = ("eval.num_clips=2", "eval.num_crops=1")
VARIANTS = ("fast_only",)  # The cheapest to compile.


def _run(out, data_dir) -> subprocess.CompletedProcess:
  overrides = [f"--train_override=--config.{o}" for o in TRAIN]
  overrides.append(f"--train_override=--config.data.data_dir={data_dir}")
  overrides += [f"--eval_override=--config.{o}" for o in EVAL]
  return subprocess.run(
      [sys.executable, "scripts/ablation.py", f"--out={out}", "--seeds=0",
       f"--variants={','.join(VARIANTS)}", *overrides],
      cwd=processes.ROOT, env=processes.subprocess_env(), capture_output=True,
      text=True, timeout=1200, check=False)


def test_ablation_writes_table_and_chart_and_keeps_finished_runs(tmp_path):
  out = tmp_path / "ablation"
  done = _run(out, tmp_path / "data")
  assert done.returncode == 0, done.stderr[-3000:]
  rows = json.loads((out / "ablation.json").read_text())
  assert [r["variant"] for r in rows] == list(VARIANTS)
  # The run trained the demo's Fast pathway alone: a fraction of SlowFast.
  fast_only = summary.model_summary(demo.demo_config("fast"))
  slowfast = summary.model_summary(demo.demo_config("slowfast"))
  assert rows[0]["params"] == fast_only["params"]
  assert rows[0]["mflops"] == fast_only["gflops"] * 1e3
  assert fast_only["gflops"] < 0.5 * slowfast["gflops"]
  for row in rows:
    assert [r["seed"] for r in row["runs"]] == [0]
    for key in ("top1", "fast_top1", "slow_top1"):
      assert 0.0 <= row[key] <= 1.0
      assert row[f"{key}_std"] == 0.0  # One seed.
    for run in row["runs"]:
      assert 0.0 <= run["val_top1"] <= 1.0
      assert 0 < run["train_seconds"] < run["train_wall_seconds"]
  table = (out / "ablation.md").read_text()
  assert all(f"| {v} |" in table for v in VARIANTS)
  assert all(f"| {v} | 0 | " in table for v in VARIANTS)  # Per run.
  assert (out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

  logs = {v: out / "runs" / f"{v}_s0" / "train.log" for v in VARIANTS}
  before = {v: p.stat().st_mtime_ns for v, p in logs.items()}
  again = _run(out, tmp_path / "data")
  assert again.returncode == 0, again.stderr[-3000:]
  assert {v: p.stat().st_mtime_ns for v, p in logs.items()} == before
  assert "done before, kept" in again.stderr


def test_ablation_names_a_failed_run_in_one_line(tmp_path):
  out = tmp_path / "ablation"
  data_dir = tmp_path / "data"
  done = subprocess.run(
      [sys.executable, "scripts/ablation.py", f"--out={out}", "--seeds=0",
       "--variants=fast_only", "--train_override=--config.num_epochs=-1",
       f"--train_override=--config.data.data_dir={data_dir}"],
      cwd=processes.ROOT, env=processes.subprocess_env(), capture_output=True,
      text=True, timeout=300, check=False)
  assert done.returncode == 1
  last = done.stderr.strip().splitlines()[-1]
  assert last.startswith("error: fast_only seed 0: train.py exited 2; see ")
  assert "Traceback" not in done.stderr
  assert not data_dir.exists()  # The bad field failed before any data.
