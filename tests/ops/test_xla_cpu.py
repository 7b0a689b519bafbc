"""The CPU compiler option: process-wide on import, same numbers, user wins."""

import numpy as np

import jax
import jax.numpy as jnp
from slowfast_jax import models
from slowfast_jax.ops import xla_cpu

from model_configs import random_variables
from model_configs import tiny_model_config
from processes import run_json_child

OURS = {xla_cpu.OPTION: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}
# XLA:CPU's own choice (YNNPACK for dots, elementwise ops and reductions).
XLA_DEFAULT = {xla_cpu.OPTION: "LIBRARY_FUSION_TYPE_DOT,"
               "LIBRARY_FUSION_TYPE_ELTWISE,LIBRARY_FUSION_TYPE_REDUCE"}

# A child process: optionally starts JAX's backend, imports the package, then
# compiles a plain jax.jit of a dot, tanh and sum and reports which ops
# XLA:CPU put into YNNPACK fusions.
_CHILD = """
import json, os, re, sys
import jax, jax.numpy as jnp
if sys.argv[1] == "backend_first":
  jax.devices()
import slowfast_jax.models
from slowfast_jax.ops import xla_cpu
def f(a, b):
  return jnp.sum(jnp.tanh(a @ b), axis=0)
x = jnp.ones((64, 64))
text = jax.jit(f).lower(x, x).compile().as_text()
ynn = [line for line in text.splitlines() if '"__ynn_fusion"' in line]
print(json.dumps({
    "ynn_ops": sorted({op for line in ynn
                       for op in re.findall(r'jit\\(f\\)/(\\w+)', line)}),
    "xla_flags": os.environ.get("XLA_FLAGS", ""),
    "per_jit": xla_cpu.model_compiler_options()}))
"""


def _run_child(mode, xla_flags=None):
  return run_json_child(_CHILD, mode, xla_flags=xla_flags)


def test_a_plain_jit_after_importing_the_package_compiles_with_the_option():
  child = _run_child("import_first")
  assert f"--{xla_cpu.OPTION}=LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT" in (
      child["xla_flags"])
  assert child["ynn_ops"] == ["dot_general"]  # Only the dot in YNNPACK.
  assert child["per_jit"] is None  # The project's jits need nothing more.


def test_after_the_backend_started_only_the_project_jits_get_the_option():
  child = _run_child("backend_first")
  assert xla_cpu.OPTION not in child["xla_flags"]
  assert "reduce_sum" in child["ynn_ops"]  # XLA's default: all in YNNPACK.
  assert child["per_jit"] == {
      xla_cpu.OPTION: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


def test_the_users_xla_flags_value_wins():
  flags = f"--{xla_cpu.OPTION}=LIBRARY_FUSION_TYPE_REDUCE"
  child = _run_child("import_first", xla_flags=flags)
  assert child["xla_flags"] == flags
  assert child["per_jit"] is None


def _tiny_model(seed):
  """A tiny SlowFast 8×8, its inputs (batch 2, 32², 8 frames) and variables."""
  config = tiny_model_config("slowfast_8x8_r50", width=8, crop=32, frames=8)
  model = models.build_model(config)
  rng = np.random.RandomState(seed)
  inputs = [jnp.asarray(rng.randn(*s), jnp.float32)
            for s in models.input_shapes(config, 32, batch_size=2)]
  return model, inputs, random_variables(model, inputs)


def test_options_apply_on_cpu_unless_xla_flags_set_them(monkeypatch):
  assert jax.default_backend() == "cpu"
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  options = xla_cpu.model_compiler_options()
  assert options is not None and xla_cpu.OPTION in options
  assert "REDUCE" not in options[xla_cpu.OPTION]
  monkeypatch.setenv("XLA_FLAGS",
                     f"--{xla_cpu.OPTION}=LIBRARY_FUSION_TYPE_REDUCE")
  assert xla_cpu.model_compiler_options() is None


def test_train_gradients_are_the_same_with_and_without_the_options():
  model, inputs, variables = _tiny_model(seed=0)

  def loss(params):
    logits, _ = model.apply(
        {"params": params, "batch_stats": variables["batch_stats"]}, inputs,
        train=True, mutable=["batch_stats"],
        rngs={"dropout": jax.random.PRNGKey(0)})
    return jnp.sum(logits * jnp.arange(logits.size).reshape(logits.shape))

  grad = jax.value_and_grad(loss)
  default = jax.jit(grad, compiler_options=XLA_DEFAULT)(variables["params"])
  ours = jax.jit(grad, compiler_options=OURS)(variables["params"])
  np.testing.assert_allclose(ours[0], default[0], rtol=1e-5)
  # Summation order differs. Some gradients are ~0 (a BN bias whose shift
  # the next training-mode BN removes) and pure rounding in both programs
  # (checked against float64), so the tolerance is set by the largest one.
  scale = max(float(np.abs(g).max()) for g in jax.tree.leaves(default[1]))
  for a, b in zip(jax.tree.leaves(ours[1]), jax.tree.leaves(default[1])):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * scale)


def test_inference_is_the_same_with_and_without_the_options():
  model, inputs, variables = _tiny_model(seed=1)
  apply = lambda v, x: model.apply(v, x)  # pylint: disable=unnecessary-lambda
  default = jax.jit(apply, compiler_options=XLA_DEFAULT)(variables, inputs)
  ours = jax.jit(apply, compiler_options=OURS)(variables, inputs)
  np.testing.assert_allclose(ours, default, rtol=1e-5, atol=1e-6)
