"""Export: every format reloads in its own runtime and matches JAX.

StableHLO runs on every classification preset; ONNX (onnxruntime) and the
SavedModel (TensorFlow), slower to convert, on three representative ones. All
at a tiny size (width 8, 10 classes, 64² crops, 16 frames, random
variables), with a symbolic batch run at batch 1 and 5;
SLOWFAST_EXPORT_ALL_PRESETS=1 runs ONNX and the SavedModel on every preset
too (26 tests, 5 min 19 s on a 2-core CPU). The same check at the
full size of slowfast_8x8_r50 (224², width 64, 400 classes, 32 frames) runs
with SLOWFAST_EXPORT_FULL_SIZE=1 (about 2 minutes; docs/export.md).
"""

import functools
import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import jax
import jax.numpy as jnp
from slowfast_jax import checkpoint
from slowfast_jax import models
from slowfast_jax.export import formats
from slowfast_jax.export import serving
from slowfast_jax.export import stablehlo

import model_configs

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import export_models  # bench/export_models.py  # pylint: disable=g-import-not-at-top,wrong-import-position
TOLERANCE = 1e-4
TOP_K = 5
# SlowFast with the time-strided conv fusion, a non-local one, and I3D.
SLOW_ROUTE_PRESETS = ("slowfast_8x8_r50", "slowfast_nln_8x8_r50", "i3d_8x8_r50")
FULL_SIZE = os.environ.get("SLOWFAST_EXPORT_FULL_SIZE") == "1"
# ONNX and the SavedModel on every classification preset, not only three.
ALL_PRESETS = os.environ.get("SLOWFAST_EXPORT_ALL_PRESETS") == "1"
CONVERTED_PRESETS = model_configs.PRESETS if ALL_PRESETS else SLOW_ROUTE_PRESETS


def _installed(*modules):
  return all(importlib.util.find_spec(m) is not None for m in modules)


needs_onnx = pytest.mark.skipif(
    not _installed("jax2onnx", "onnx", "onnxruntime"),
    reason="ONNX export needs the optional jax2onnx, onnx and onnxruntime: "
    "see requirements-export.txt")
needs_tf = pytest.mark.skipif(not _installed("tensorflow"),
                              reason="SavedModel export needs tensorflow")
full_size_only = pytest.mark.skipif(
    not FULL_SIZE, reason="full size (224²): set SLOWFAST_EXPORT_FULL_SIZE=1")


@functools.cache
def reference(name, size="tiny", test_crop=None):
  """`(config, variables, frames (5, ...), JAX outputs)`: the serving
  function jitted with the config's own conv path (eval / predict's).

  `test_crop` larger than the training crop gives a head map of several
  positions (the release tests 8×8 at 256², trained at 224²).
  """
  config = export_models.export_config(name, size)
  if test_crop:
    config.data.test_crop_size = test_crop
  variables = export_models.random_model_variables(config)
  frames = export_models.clip_frames(config, 5)
  serve = serving.make_serving_fn(config, TOP_K,
                                  model=models.build_model(config.model))
  outputs = jax.tree.map(np.asarray, jax.jit(serve)(variables, frames))
  return config, variables, frames, outputs


def assert_matches(outputs, expected):
  """Same probabilities (≤ 1e-4), and top-k indices of the k best classes."""
  probabilities, indices = (np.asarray(x) for x in outputs)
  expected_probabilities = expected[0]
  assert probabilities.dtype == np.float32 and indices.dtype == np.int32
  assert indices.shape == (len(expected_probabilities), TOP_K)
  np.testing.assert_allclose(probabilities, expected_probabilities,
                             atol=TOLERANCE, rtol=0)
  best = -np.sort(-expected_probabilities, axis=1)[:, :TOP_K]
  np.testing.assert_allclose(
      np.take_along_axis(expected_probabilities, indices, axis=1), best,
      atol=TOLERANCE, rtol=0)


def check_format(fmt, name, path, size="tiny", test_crop=None):
  """Exports with a symbolic batch, reloads, runs batch 5 and batch 1."""
  config, variables, frames, expected = reference(name, size, test_crop)
  formats.save(fmt, config, variables, path, top_k=TOP_K)
  run = formats.load(fmt, path)
  assert_matches(run(frames), expected)
  assert_matches(run(frames[:1]), [x[:1] for x in expected])
  return config


@pytest.mark.parametrize("name", model_configs.PRESETS)
def test_stablehlo_matches_jax_on_every_preset(name, tmp_path):
  check_format("stablehlo", name, tmp_path / f"{name}.stablehlo")


@needs_onnx
@pytest.mark.parametrize("name", CONVERTED_PRESETS)
def test_onnx_matches_jax(name, tmp_path):
  import onnx
  config = check_format("onnx", name, tmp_path / f"{name}.onnx")
  model = onnx.load(str(tmp_path / f"{name}.onnx"))
  batch = model.graph.input[0].type.tensor_type.shape.dim[0]
  assert batch.dim_param and not batch.HasField("dim_value")
  convs = [n for n in model.graph.node if n.op_type == "Conv"]
  # Native 3D convolutions (3 spatial axes), none split into 2D ones.
  assert convs and all(_conv_spatial_axes(n) == 3 for n in convs)
  assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}
  assert config.model.conv_impl == "auto"  # The export overrides it.


@needs_onnx
def test_onnx_at_a_test_crop_larger_than_the_training_crop(tmp_path):
  # 96² for a 64² model: the head's average pool slides over 2×2 positions.
  check_format("onnx", "slowfast_8x8_r50", tmp_path / "m.onnx", test_crop=96)


def _conv_spatial_axes(node):
  strides, = (a.ints for a in node.attribute if a.name == "strides")
  return len(strides)


@needs_tf
@pytest.mark.parametrize("name", CONVERTED_PRESETS)
def test_saved_model_matches_jax(name, tmp_path):
  import tensorflow as tf
  config = check_format("savedmodel", name, tmp_path / name)
  signature = tf.saved_model.load(str(tmp_path / name)).signatures[
      "serving_default"]
  spec, = signature.structured_input_signature[1].values()
  assert spec.dtype == tf.uint8
  assert spec.shape.as_list() == [None, *serving.frames_shape(config)[1:]]
  assert set(signature.structured_outputs) == set(serving.OUTPUT_NAMES)


def test_fixed_batch_takes_that_batch_only(tmp_path):
  config, variables, frames, expected = reference("slowfast_8x8_r50")
  path = formats.save("stablehlo", config, variables, tmp_path / "b2",
                      batch=2, top_k=TOP_K)
  exported = stablehlo.load(path)
  assert exported.in_avals[0].shape == serving.frames_shape(config, 2)
  assert_matches(exported.call(frames[:2]), [x[:2] for x in expected])
  with pytest.raises(Exception, match="shape"):
    exported.call(frames[:3])


def test_exported_graph_has_no_custom_calls():
  config, variables, _, _ = reference("slowfast_8x8_r50")
  serve = serving.make_serving_fn(config, TOP_K)
  exported = stablehlo.export(lambda x: serve(variables, x),
                               serving.input_spec(config, None))
  assert stablehlo.custom_call_targets(exported) <= {"shape_assertion"}
  assert "stablehlo.convolution" in exported.mlir_module()
  assert "composite" not in exported.mlir_module()


def test_custom_calls_are_rejected():
  # An eigendecomposition lowers to a LAPACK custom call on CPU.
  with pytest.raises(ValueError, match="custom calls"):
    stablehlo.export(lambda x: jnp.linalg.eigh(x)[0],
                     jax.ShapeDtypeStruct((4, 4), jnp.float32))


@needs_onnx
def test_non_standard_onnx_ops_are_rejected():
  import onnx
  from onnx import helper
  from slowfast_jax.export import onnx_model
  node = helper.make_node("FusedConv", ["x"], ["y"], domain="com.microsoft")
  graph = helper.make_graph(
      [node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                  [1])],
      [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
  model = helper.make_model(graph, opset_imports=[
      helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])
  with pytest.raises(ValueError, match="com.microsoft::FusedConv"):
    onnx_model.check_standard(model)


def test_serving_rejects_float_frames_and_a_bad_top_k():
  config, variables, frames, _ = reference("slowfast_8x8_r50")
  serve = serving.make_serving_fn(config, TOP_K)
  with pytest.raises(ValueError, match="uint8"):
    jax.eval_shape(serve, variables, frames.astype(np.float32))
  with pytest.raises(ValueError, match="top_k=11"):
    serving.make_serving_fn(config, 11)


def _cli(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT),
             TF_CPP_MIN_LOG_LEVEL="2")
  s = export_models.SIZES["tiny"]
  overrides = [f"--config.model.width_per_group={s['width']}",
               f"--config.model.num_classes={s['classes']}",
               f"--config.model.train_crop_size={s['crop']}",
               f"--config.model.num_frames={s['frames']}",
               f"--config.data.test_crop_size={s['crop']}"]
  return subprocess.run(
      [sys.executable, "-m", "slowfast_jax.export", "--config",
       str(ROOT / "configs" / "slowfast_8x8_r50.py"), *overrides, *args],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_cli_exports_the_checkpoint(tmp_path):
  _, variables, frames, expected = reference("slowfast_8x8_r50")
  checkpoint.save_variables(tmp_path / "ckpt",
                            jax.tree.map(np.asarray, variables))
  out = tmp_path / "model.stablehlo"
  result = _cli("--checkpoint", str(tmp_path / "ckpt"), "--format",
                "stablehlo", "--out", str(out), "--dynamic-batch")
  assert result.returncode == 0, result.stderr[-3000:]
  assert f"Wrote {out}" in result.stdout
  run = formats.load("stablehlo", out)
  assert_matches(run(frames), expected)
  both = _cli("--checkpoint", str(tmp_path / "ckpt"), "--format",
              "stablehlo", "--out", str(out), "--dynamic-batch", "--batch=2")
  assert both.returncode != 0 and "not both" in both.stderr


@full_size_only
@pytest.mark.parametrize("fmt", ["stablehlo", "onnx", "savedmodel"])
def test_full_size_slowfast_8x8_r50(fmt, tmp_path):
  """slowfast_8x8_r50 at 224² (SLOWFAST_EXPORT_FULL_SIZE=1)."""
  check_format(fmt, "slowfast_8x8_r50", tmp_path / f"model.{fmt}", "full")


def test_bench_takes_turns_and_reports_medians():
  spec = importlib.util.spec_from_file_location(
      "export_throughput", ROOT / "bench" / "export_throughput.py")
  bench = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(bench)
  calls = []

  class FakeWorker:
    def __init__(self, name, seconds):
      self.name, self.seconds = name, seconds

    def time(self, settle, repeats):
      calls.append(self.name)
      return [self.seconds * 2] * settle + [self.seconds] * repeats

  rates = bench.take_turns({"onnx": FakeWorker("onnx", 0.5),
                            "jax": FakeWorker("jax", 0.25)},
                           rounds=3, repeats=2, settle=1, clips=8)
  assert calls == ["onnx", "jax"] * 3
  assert rates["onnx"] == {"clips_per_s": 16.0, "first_call_clips_per_s": 8.0}
  assert rates["jax"] == {"clips_per_s": 32.0, "first_call_clips_per_s": 16.0}
