"""The throughput bench's alternation: who runs when, and what is timed."""

import importlib.util
import pathlib

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
