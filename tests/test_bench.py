"""The throughput bench: who runs when, in which process, what is timed."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

_BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench" / "model_throughput.py"


@pytest.fixture(scope="module")
def bench():
  spec = importlib.util.spec_from_file_location("model_throughput", _BENCH)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _recording(calls, name):
  return lambda: calls.append(name)


@pytest.mark.parametrize("settle", [0, 1, 2])
def test_alternate_settles_each_side_before_timing_it(bench, settle):
  calls = []
  rates = bench.alternate(_recording(calls, "jax"), _recording(calls, "torch"),
                          rounds=3, repeats=2, clips=4, settle=settle)
  per_round = ["jax"] * (settle + 2) + ["torch"] * (settle + 2)
  assert calls == ["jax", "torch"] + per_round * 3
  assert set(rates) == {"jax", "torch", "jax_first", "torch_first"}
  assert all(rate > 0 for rate in rates.values())


def test_alternate_without_torch_times_jax_alone(bench):
  calls = []
  rates = bench.alternate(_recording(calls, "jax"), None, rounds=2, repeats=1,
                          clips=1, settle=1)
  assert calls == ["jax"] * 5
  assert rates["torch"] is None and rates["torch_first"] is None
  assert rates["jax"] > 0 and rates["jax_first"] > 0


def test_first_after_switch_ratio(bench):
  fields = bench.first_after_switch({"jax_first": 3.0, "torch_first": 2.0})
  assert fields == {"jax_first_call_clips_per_s": 3.0,
                    "torch_first_call_clips_per_s": 2.0,
                    "first_call_ratio_jax_over_torch": 1.5}
  assert bench.first_after_switch(
      {"jax_first": 3.0, "torch_first": None})[
          "first_call_ratio_jax_over_torch"] is None


# A worker process serving a side that logs each call to a shared file.
_ECHO_WORKER = """
import os, sys
sys.path.insert(0, sys.argv[1])
import model_throughput

class Echo:
  def pid(self):
    return os.getpid()
  def call(self):
    with open(sys.argv[2], "a") as log:
      log.write(sys.argv[3] + "\\n")
  def fail(self):
    raise ValueError("echo failed")

model_throughput.serve(Echo())
"""


def _echo_worker(bench, name, log):
  return bench.Worker(name, [sys.executable, "-c", _ECHO_WORKER,
                             str(_BENCH.parent), str(log), name])


def test_workers_alternate_each_in_its_own_process(bench, tmp_path):
  log = tmp_path / "calls.txt"
  jax_worker = _echo_worker(bench, "jax", log)
  torch_worker = _echo_worker(bench, "torch", log)
  try:
    pids = {jax_worker.pid(), torch_worker.pid(), os.getpid()}
    assert len(pids) == 3
    bench.alternate(jax_worker.call, torch_worker.call, rounds=2, repeats=2,
                    clips=1, settle=1)
    with pytest.raises(RuntimeError, match="echo failed"):
      jax_worker.fail()
  finally:
    jax_worker.close()
    torch_worker.close()
  per_round = ["jax"] * 3 + ["torch"] * 3
  assert log.read_text().split() == ["jax", "torch"] + per_round * 2


def test_processes_mode_times_a_plain_jit_in_a_worker(tmp_path):
  # Tiny and JAX only: the PyTorch reference exists at full size only.
  output = tmp_path / "results.json"
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  subprocess.run(
      [sys.executable, str(_BENCH), "--processes", "--jit", "plain",
       "--skip-torch", "--presets", "slow_8x8_r50", "--width", "8",
       "--crop", "32", "--batches", "1", "--train-batches", "1",
       "--rounds", "2", "--repeats", "1", "--settle", "0",
       "--output", str(output)], env=env, check=True, capture_output=True)
  results = json.loads(output.read_text())
  assert results["args"]["processes"] and results["args"]["jit"] == "plain"
  # The worker imported the package, which set the option for any jit.
  assert "xla_cpu_experimental_ynn_fusion_type" in (
      results["machine"]["xla_flags"])
  (row,) = results["presets"]
  assert [e["batch"] for e in row["infer"]] == [1]
  assert [e["batch"] for e in row["train"]] == [1]
  for entry in row["infer"] + row["train"]:
    assert entry["jax_clips_per_s"] > 0 and entry["torch_clips_per_s"] is None
    assert entry["jax_compile_s"] >= 0
  assert row["train"][0]["xla_flops_per_step"] > 0


def test_inference_and_train_step_take_their_own_repeats(bench, monkeypatch):
  class Side:
    def input_shapes(self, batch):
      return [[batch, 4, 8, 8, 3]]

    def prepare(self, job, shapes, seed):
      return {"compile_s": 0.0, "flops": None}

    def call(self):
      pass

  repeats = []

  def alternate(jax_fn, torch_fn, rounds, repeats_per_round, clips, settle):
    repeats.append(repeats_per_round)
    return {"jax": 1.0, "torch": None, "jax_first": 1.0, "torch_first": None}

  monkeypatch.setattr(bench, "alternate", alternate)
  args = bench.parse_args(["--repeats", "10", "--train-repeats", "3"])
  bench.bench_job("infer", 1, Side(), None, args, peak=None)
  bench.bench_job("train", 4, Side(), None, args, peak=None)
  assert repeats == [10, 3]
  assert bench.parse_args([]).train_repeats == 1


def test_other_widths_need_skip_torch(bench):
  with pytest.raises(SystemExit):
    bench.parse_args(["--width", "8"])
  assert bench.parse_args(["--width", "8", "--skip-torch"]).width == 8


def test_torch_side_saves_its_weights_and_runs_both_jobs(bench, tmp_path,
                                                         monkeypatch):
  torch = pytest.importorskip("torch")

  class Tiny(torch.nn.Module):

    def __init__(self):
      super().__init__()
      self.conv = torch.nn.Conv3d(3, 4, 1)
      self.fc = torch.nn.Linear(4, 5)

    def forward(self, x):
      return self.fc(self.conv(x).mean(dim=(2, 3, 4)))

  monkeypatch.setattr(bench, "torch_reference", lambda name: Tiny())
  side = bench.TorchSide(bench.parse_args([]))
  weights = tmp_path / "weights.npz"
  side.setup(preset="slow_8x8_r50", weights=str(weights))
  with np.load(weights) as saved:
    assert set(saved) == {"conv.weight", "conv.bias", "fc.weight", "fc.bias"}
  shapes = [[2, 4, 8, 8, 3]]  # (batch, time, height, width, 3)
  assert np.array(side.logits(shapes=shapes, seed=0)).shape == (2, 5)
  before = side.model.fc.weight.detach().clone()
  side.prepare(job="train", shapes=shapes, seed=1)
  side.call()
  assert not torch.equal(before, side.model.fc.weight)  # An SGD step.
  side.prepare(job="infer", shapes=shapes, seed=0)
  side.call()


def test_jax_side_puts_the_converted_weights_on_the_device(bench, tmp_path,
                                                           monkeypatch):
  import jax  # pylint: disable=g-import-not-at-top
  from slowfast_jax.convert import load as convert_load  # pylint: disable=g-import-not-at-top
  converted = {"params": {"w": np.ones((2, 3), np.float32)},
               "batch_stats": {"mean": np.zeros(3, np.float32)}}
  monkeypatch.setattr(convert_load, "convert_tensors",
                      lambda source, config: (converted, None))
  weights = tmp_path / "weights.npz"
  np.savez(weights, w=np.ones(2))
  side = bench.JaxSide(bench.parse_args(["--width", "8", "--skip-torch"]))
  side.setup(preset="slow_8x8_r50", weights=str(weights))
  leaves = jax.tree.leaves(side.variables)
  assert len(leaves) == 2
  # Numpy arguments would be copied in on every call.
  assert all(isinstance(a, jax.Array) for a in leaves)
