"""The CPU compiler options: applied on CPU, same numbers, user flags win."""

import numpy as np

import jax
import jax.numpy as jnp
from slowfast_jax import models
from slowfast_jax import xla_cpu

from model_configs import random_variables
from model_configs import tiny_model_config


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


def test_train_gradients_are_the_same_with_and_without_the_options(
    monkeypatch):
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  model, inputs, variables = _tiny_model(seed=0)

  def loss(params):
    logits, _ = model.apply(
        {"params": params, "batch_stats": variables["batch_stats"]}, inputs,
        train=True, mutable=["batch_stats"],
        rngs={"dropout": jax.random.PRNGKey(0)})
    return jnp.sum(logits * jnp.arange(logits.size).reshape(logits.shape))

  grad = jax.value_and_grad(loss)
  default = jax.jit(grad)(variables["params"])
  ours = jax.jit(grad, compiler_options=xla_cpu.model_compiler_options())(
      variables["params"])
  np.testing.assert_allclose(ours[0], default[0], rtol=1e-5)
  # Summation order differs. Some gradients are ~0 (a BN bias whose shift
  # the next training-mode BN removes) and pure rounding in both programs
  # (checked against float64), so the tolerance is set by the largest one.
  scale = max(float(np.abs(g).max()) for g in jax.tree.leaves(default[1]))
  for a, b in zip(jax.tree.leaves(ours[1]), jax.tree.leaves(default[1])):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * scale)


def test_inference_is_the_same_with_and_without_the_options(monkeypatch):
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  model, inputs, variables = _tiny_model(seed=1)
  apply = lambda v, x: model.apply(v, x)  # pylint: disable=unnecessary-lambda
  default = jax.jit(apply)(variables, inputs)
  ours = jax.jit(apply, compiler_options=xla_cpu.model_compiler_options())(
      variables, inputs)
  np.testing.assert_allclose(ours, default, rtol=1e-5, atol=1e-6)
