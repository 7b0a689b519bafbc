"""Model family: parameter counts, FLOPs, heads, fusions and input checks."""

import numpy as np
import optax
import pytest

import jax
import jax.numpy as jnp
from slowfast_jax import models
from slowfast_jax import summary
from slowfast_jax.evaluation import scorer
from slowfast_jax.ops import batch_norm

from model_configs import load_preset
from model_configs import PRESETS
from model_configs import random_variables
from model_configs import tiny_model_config

# The release's parameter counts (release_facts.md §1.11, measured there).
RELEASE_PARAMS = {
    "slowfast_4x16_r50": 34_480_216,
    "slowfast_8x8_r50": 34_566_488,
    "slowfast_nln_8x8_r50": 41_838_680,
    "slowfast_8x8_r101_50_50": 53_774_808,
    "slowfast_8x8_r101_101_101": 62_826_968,
    "slowfast_16x8_r101_50_50": 53_774_808,
    "slowfast_nln_16x8_r101_50_50": 60_080_088,
    "slow_4x16_r50": 32_454_096,
    "slow_8x8_r50": 32_454_096,
    "c2d_8x8_r50": 24_327_632,
    "c2d_nopool_8x8_r50": 24_327_632,
    "i3d_8x8_r50": 28_043_472,
    "i3d_nln_8x8_r50": 35_401_936,
}
# The paper's GFLOPs × views, one view (Feichtenhofer et al., Table 2/3).
PAPER_GFLOPS = {
    "slowfast_4x16_r50": 36.1,
    "slowfast_8x8_r50": 65.7,
    "slowfast_8x8_r101_50_50": 106.0,
    "slowfast_16x8_r101_50_50": 213.0,
}


def test_every_release_preset_is_covered():
  assert sorted(RELEASE_PARAMS) == PRESETS


@pytest.mark.parametrize("preset", PRESETS)
def test_parameter_count_equals_release(preset):
  assert summary.model_summary(load_preset(preset))["params"] == \
      RELEASE_PARAMS[preset]


@pytest.mark.parametrize("preset", sorted(PAPER_GFLOPS))
def test_gflops_within_one_percent_of_paper(preset):
  gflops = summary.model_summary(load_preset(preset))["gflops"]
  assert abs(gflops - PAPER_GFLOPS[preset]) / PAPER_GFLOPS[preset] < 0.01


def test_summary_stage_shapes_at_test_crop():
  shapes = summary.model_summary(load_preset("slowfast_8x8_r50"))
  assert shapes["stage_shapes"]["res5"] == [(1, 8, 8, 8, 2048),
                                             (1, 32, 8, 8, 256)]
  assert shapes["stage_shapes"]["stem"] == [(1, 8, 64, 64, 64),
                                             (1, 32, 64, 64, 8)]


def _init(model_config, crop, batch=2, seed=0):
  model = models.build_model(model_config)
  rng = np.random.RandomState(seed)
  inputs = [jnp.asarray(rng.randn(*s), jnp.float32)
            for s in models.input_shapes(model_config, crop, batch)]
  variables = jax.jit(model.init)(jax.random.PRNGKey(seed), inputs)
  return model, variables, inputs


def test_each_output_kind_is_the_same_kind_at_every_crop():
  config = tiny_model_config("slowfast_8x8_r50", crop=32, frames=8)
  config.depth = 18  # Any depth: the head decides the outputs.
  model = models.build_model(config)
  inputs = [jnp.asarray(np.random.RandomState(0).randn(*s), jnp.float32)
            for s in models.input_shapes(config, 32, 2)]
  # Non-trivial BN scales and statistics, so every branch contributes.
  variables = random_variables(model, inputs)
  # Jitted: one program per output kind and crop compiles faster than the
  # model op by op.
  apply = jax.jit(model.apply, static_argnames="output")
  logits = apply(variables, inputs)
  assert logits.shape == (2, 10)
  per_position = apply(variables, inputs, output="per_position_logits")
  assert per_position.shape == (2, 1, 1, 1, 10)
  np.testing.assert_allclose(per_position[:, 0, 0, 0], logits, atol=1e-6)
  np.testing.assert_allclose(scorer.release_test_scores(per_position),
                             jax.nn.softmax(logits), atol=1e-6)
  # Features: the head's pooled input; the classifier on them gives logits.
  features = apply(variables, inputs, output="features")
  assert features["slow"].shape == (2, 256) and features["fast"].shape == (2, 32)
  np.testing.assert_array_equal(
      features["concat"], np.concatenate([features["slow"], features["fast"]],
                                         -1))
  projection = variables["params"]["head"]["projection"]
  np.testing.assert_allclose(
      features["concat"] @ projection["kernel"] + projection["bias"], logits,
      atol=1e-5)

  larger = [jnp.asarray(np.random.RandomState(3).randn(
      *s), jnp.float32) for s in models.input_shapes(config, 64, 2)]
  # 64 px is a 2×2 map of positions (pool window 1×1 at a 32-px train crop).
  per_position = apply(variables, larger, output="per_position_logits")
  assert per_position.shape == (2, 1, 2, 2, 10)
  mean_logits = apply(variables, larger)  # Still logits: the mean over positions.
  np.testing.assert_allclose(mean_logits, per_position.mean(axis=(1, 2, 3)),
                             atol=1e-6)
  probs = scorer.release_test_scores(per_position)
  np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
  # The mean of per-position softmaxes, not the softmax of the mean logits.
  assert not np.allclose(probs, jax.nn.softmax(mean_logits), atol=1e-3)
  with pytest.raises(ValueError, match="output='probabilities'"):
    apply(variables, inputs, output="probabilities")


@pytest.mark.parametrize("fusion", ["time_strided_conv", "time_to_channel",
                                    "time_strided_sample"])
def test_each_fusion_trains_one_step_and_changes_the_loss(fusion):
  config = tiny_model_config("slowfast_8x8_r50", width=8, crop=32, frames=8)
  config.depth = 18  # Any depth: the fusions sit after the stem and res2-4.
  config.fusion = fusion
  config.bn_group_size = 0
  model = models.build_model(config)
  rng = np.random.RandomState(0)
  inputs = [jnp.asarray(rng.randn(*s), jnp.float32)
            for s in models.input_shapes(config, 32, 2)]
  variables = random_variables(model, inputs)
  labels = jnp.array([1, 7])

  def loss_fn(params):
    logits, _ = model.apply(
        {"params": params, "batch_stats": variables["batch_stats"]}, inputs,
        train=True, rngs={"dropout": jax.random.PRNGKey(0)},
        mutable=["batch_stats"])
    return optax.softmax_cross_entropy_with_integer_labels(logits,
                                                           labels).mean()

  # Jitted: one program per fusion compiles faster than the model op by op.
  params = variables["params"]
  loss_before, grads = jax.jit(jax.value_and_grad(loss_fn))(params)
  tx = optax.sgd(0.1)
  updates, _ = tx.update(grads, tx.init(params), params)
  loss_after = jax.jit(loss_fn)(optax.apply_updates(params, updates))
  assert np.isfinite(loss_before) and np.isfinite(loss_after)
  assert float(loss_after) < float(loss_before) - 1e-4
  if fusion == "time_strided_conv":
    assert "fuse1" in params
  else:
    assert not any(k.startswith("fuse") for k in params)


def test_fusion_widths_follow_the_paper():
  # Slow res2 block 0 input: 8 (stem) + fused Fast channels (Fast stem: 1).
  expected_in = {"time_strided_conv": 8 + 2, "time_to_channel": 8 + 4,
                 "time_strided_sample": 8 + 1}
  for fusion, width in expected_in.items():
    config = tiny_model_config("slowfast_8x8_r50", crop=32, frames=8)
    config.fusion = fusion
    model = models.build_model(config)
    inputs = [jax.ShapeDtypeStruct(s, jnp.float32)
              for s in models.input_shapes(config, 32, 1)]
    variables = jax.eval_shape(
        lambda x, m=model: m.init(jax.random.PRNGKey(0), x), inputs)
    kernel = variables["params"]["slow_res2"]["block0"]["conv_a"]["kernel"]
    assert kernel.shape[-2] == width, fusion


def test_time_to_channel_packs_consecutive_frames():
  from slowfast_jax.models import fusion
  fast = jnp.arange(1 * 8 * 1 * 1 * 2, dtype=jnp.float32).reshape(1, 8, 1, 1, 2)
  packed = fusion.time_to_channel(fast, alpha=4)
  assert packed.shape == (1, 2, 1, 1, 8)
  np.testing.assert_array_equal(packed[0, 1, 0, 0], np.arange(8, 16))


def test_grouped_batch_norm_statistics_match_numpy():
  x = np.random.RandomState(0).randn(8, 2, 3, 3, 4).astype(np.float32)
  mean, var = batch_norm.grouped_moments(jnp.asarray(x), group_size=4)
  groups = x.reshape(2, 4, 2, 3, 3, 4)
  np.testing.assert_allclose(mean, groups.mean(axis=(1, 2, 3, 4)), atol=1e-6)
  np.testing.assert_allclose(var, groups.var(axis=(1, 2, 3, 4)), atol=1e-5)
  with pytest.raises(ValueError, match="bn_group_size"):
    batch_norm.grouped_moments(jnp.asarray(x[:6]), group_size=4)


@pytest.mark.parametrize("impl", ["fast", "native"])
@pytest.mark.parametrize("group_size", [0, 2])
def test_batch_norm_gradient_equals_autodiff(group_size, impl):
  # The closed-form gradient ("fast") and the native path against autodiff
  # through the moments written out here.
  rng = np.random.RandomState(0)
  x = jnp.asarray(rng.randn(4, 2, 3, 3, 5).astype(np.float32) * 2 + 1)
  scale = jnp.asarray(rng.rand(5).astype(np.float32) + 0.5)
  bias = jnp.asarray(rng.randn(5).astype(np.float32))
  cotangent = jnp.asarray(rng.randn(*x.shape).astype(np.float32))

  def ours(x, scale, bias):
    y, _, _ = batch_norm.normalize_in_training(x, scale, bias, group_size,
                                               1e-5, impl)
    return jnp.sum(y * cotangent)

  def autodiff(x, scale, bias):
    grouped = x.reshape(batch_norm.num_groups(4, group_size), -1, 5)
    mean = grouped.mean(axis=1, keepdims=True)
    var = jnp.square(grouped - mean).mean(axis=1, keepdims=True)
    y = (grouped - mean) * jax.lax.rsqrt(var + 1e-5) * scale + bias
    return jnp.sum(y.reshape(x.shape) * cotangent)

  np.testing.assert_allclose(ours(x, scale, bias), autodiff(x, scale, bias),
                             rtol=1e-6)
  grads = jax.grad(ours, argnums=(0, 1, 2))(x, scale, bias)
  expected = jax.grad(autodiff, argnums=(0, 1, 2))(x, scale, bias)
  for name, a, b in zip(["x", "scale", "bias"], grads, expected):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)


def test_wrong_inputs_give_clear_errors():
  config = tiny_model_config("slowfast_8x8_r50", crop=32, frames=8)
  model = models.build_model(config)
  slow, fast = [jnp.zeros(s) for s in models.input_shapes(config, 32, 1)]

  def init(inputs):
    # Traced, not run: the checks raise while the model is traced, and the
    # last one only in the head, after every stage (running the init op by
    # op at these shapes compiled every op again).
    return jax.eval_shape(model.init, jax.random.PRNGKey(0), inputs)

  assert init([slow, fast])["params"]  # The checks accept valid inputs.
  with pytest.raises(ValueError, match="2 pathway input"):
    init([fast])
  with pytest.raises(ValueError, match="alpha"):
    init([slow, fast[:, :6]])
  with pytest.raises(ValueError, match="pooling window"):
    init([slow[:, :1], fast[:, :4]])
  config.arch = "x3d"
  with pytest.raises(ValueError, match="model.arch"):
    models.build_model(config)


def test_release_init_zeroes_final_block_bn_and_scales_classifier():
  config = tiny_model_config("slowfast_8x8_r50", crop=32, frames=8)
  config.depth = 18  # Every depth initializes its blocks alike.
  _, variables, _ = _init(config, crop=32)
  params = variables["params"]
  assert np.all(params["slow_res2"]["block0"]["bn_c"]["scale"] == 0)
  assert np.all(params["slow_res2"]["block0"]["bn_a"]["scale"] == 1)
  assert np.all(params["fuse1"]["bn"]["scale"] == 1)
  kernel = np.asarray(params["head"]["projection"]["kernel"])
  assert 0.005 < kernel.std() < 0.02
  conv = np.asarray(params["slow_res4"]["block0"]["conv_b"]["kernel"])
  fan_out = 3 * 3 * conv.shape[-1]
  assert abs(conv.std() / np.sqrt(2 / fan_out) - 1) < 0.1
