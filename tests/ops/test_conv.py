"""The fast CPU convolution formulations equal `lax.conv_general_dilated`."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp
from slowfast_jax import models
from slowfast_jax.evaluation import scorer
from slowfast_jax import ops
from slowfast_jax.ops import conv2d
from slowfast_jax.ops import conv3d

from model_configs import PRESETS
from model_configs import random_variables
from model_configs import tiny_model_config

# Every (kernel, stride) the presets use: stems, bottleneck a/b/c and
# shortcuts, fusions (α = 4 and 8), non-local 1×1×1.
PRESET_KERNELS = [
    ((1, 7, 7), (1, 2, 2)), ((5, 7, 7), (1, 2, 2)),
    ((1, 3, 3), (1, 1, 1)), ((1, 3, 3), (1, 2, 2)),
    ((3, 1, 1), (1, 1, 1)), ((1, 1, 1), (1, 1, 1)), ((1, 1, 1), (1, 2, 2)),
    ((5, 1, 1), (4, 1, 1)), ((7, 1, 1), (4, 1, 1)), ((5, 1, 1), (8, 1, 1)),
]
# Not in a preset: a time stride too small for the by-phase formulation.
OTHER_KERNELS = [((5, 1, 1), (2, 1, 1))]


def assert_fast_matches_native(kernel_size, strides, input_size, features):
  rng = np.random.RandomState(0)
  inputs = jnp.asarray(rng.randn(2, *input_size, 3), jnp.float32)
  kernel = jnp.asarray(rng.randn(*kernel_size, 3, features), jnp.float32)

  def loss(impl):
    def f(x, k):
      y = conv3d.conv3d(x, k, strides, impl)
      return jnp.sum(y * jnp.cos(jnp.arange(y.size).reshape(y.shape)))
    return jax.jit(jax.value_and_grad(f, argnums=(0, 1)))

  (native_value, native_grads) = loss("native")(inputs, kernel)
  (fast_value, fast_grads) = loss("fast")(inputs, kernel)
  native_out = conv3d.conv3d(inputs, kernel, strides, "native")
  fast_out = conv3d.conv3d(inputs, kernel, strides, "fast")
  assert fast_out.shape == native_out.shape
  np.testing.assert_allclose(fast_out, native_out, atol=1e-4, rtol=1e-5)
  np.testing.assert_allclose(fast_value, native_value, rtol=1e-5, atol=1e-3)
  for fast_grad, native_grad in zip(fast_grads, native_grads):
    np.testing.assert_allclose(fast_grad, native_grad, atol=1e-4, rtol=1e-5)


# Even and odd sizes: a stride-2 input gradient interleaves phases and crops.
@pytest.mark.parametrize("input_size", [(8, 12, 10), (9, 13, 11)])
@pytest.mark.parametrize("kernel_size,strides", PRESET_KERNELS + OTHER_KERNELS)
def test_fast_formulation_matches_native_forward_and_gradients(
    kernel_size, strides, input_size):
  assert_fast_matches_native(kernel_size, strides, input_size, features=5)


# Wide kt×1×1 kernels run their forward one matmul per tap (Slow res4, res5).
def test_per_tap_forward_of_wide_kernels_matches_native():
  assert_fast_matches_native((3, 1, 1), (1, 1, 1), (8, 6, 5),
                             features=conv3d.PER_TAP_MIN_FEATURES)


# Clips shorter than the kernel's reach: some taps read only padding.
@pytest.mark.parametrize("frames", [1, 2])
@pytest.mark.parametrize("kernel_size", [(5, 7, 7), (3, 1, 1)])
def test_fast_formulation_on_clips_shorter_than_the_kernel(kernel_size,
                                                           frames):
  rng = np.random.RandomState(1)
  inputs = jnp.asarray(rng.randn(1, frames, 9, 9, 3), jnp.float32)
  kernel = jnp.asarray(rng.randn(*kernel_size, 3, 4), jnp.float32)
  strides = (1, 2, 2) if kernel_size[1] > 1 else (1, 1, 1)
  fast_out = conv3d.conv3d(inputs, kernel, strides, "fast")
  native_out = conv3d.conv3d(inputs, kernel, strides, "native")
  assert fast_out.shape == native_out.shape
  np.testing.assert_allclose(fast_out, native_out, atol=1e-4, rtol=1e-5)


def test_fast_path_is_a_different_computation_where_it_applies():
  assert conv3d.fast_formulation((1, 3, 3), (1, 1, 1)) is not None
  assert conv3d.fast_formulation((3, 1, 1), (1, 1, 1)) is not None
  assert conv3d.fast_formulation((5, 7, 7), (1, 2, 2)) is not None
  assert conv3d.fast_formulation((1, 1, 1), (1, 1, 1)) is not None
  assert conv3d.fast_formulation((7, 1, 1), (4, 1, 1)) is not None
  # No formulation here for time-strided space-time kernels or even kt.
  assert conv3d.fast_formulation((3, 3, 3), (2, 1, 1)) is None
  assert conv3d.fast_formulation((2, 1, 1), (1, 1, 1)) is None


@pytest.mark.parametrize("kernel_hw,strides", [
    ((3, 3), (1, 1)), ((3, 3), (2, 2)), ((7, 7), (2, 2)), ((1, 1), (2, 2)),
    ((3, 3), (3, 3)), ((5, 3), (2, 1))])
def test_conv2d_input_gradient_equals_xla(kernel_hw, strides):
  rng = np.random.RandomState(1)
  inputs = jnp.asarray(rng.randn(3, 11, 8, 4), jnp.float32)
  kernel = jnp.asarray(rng.randn(*kernel_hw, 4, 6), jnp.float32)

  def xla_conv(x, k):
    return jax.lax.conv_general_dilated(
        x, k, strides, [(k.shape[0] // 2,) * 2, (k.shape[1] // 2,) * 2],
        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  outputs, xla_vjp = jax.vjp(xla_conv, inputs, kernel)
  output_grad = jnp.asarray(rng.randn(*outputs.shape), jnp.float32)
  ours, our_vjp = jax.vjp(lambda x, k: conv2d.conv2d(x, k, strides), inputs,
                          kernel)
  np.testing.assert_allclose(ours, outputs, atol=1e-5)
  for our_grad, xla_grad in zip(our_vjp(output_grad), xla_vjp(output_grad)):
    assert our_grad.shape == xla_grad.shape
    np.testing.assert_allclose(our_grad, xla_grad, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("frames,kernel_hw,strides,chunk_bytes", [
    (5, (7, 7), (2, 2), 1), (6, (3, 3), (1, 1), 32000), (4, (3, 3), (2, 2), 0),
    (3, (5, 3), (2, 1), 1e9), (2, (3, 3), (3, 3), 1)])
def test_chunked_im2col_weight_gradient_equals_xla(frames, kernel_hw, strides,
                                                    chunk_bytes):
  # The chunk sizes give one frame per chunk, 3 of 6, and all in one.
  rng = np.random.RandomState(2)
  inputs = jnp.asarray(rng.randn(frames, 11, 8, 3), jnp.float32)
  kernel = jnp.asarray(rng.randn(*kernel_hw, 3, 4), jnp.float32)
  outputs, xla_vjp = jax.vjp(
      lambda k: jax.lax.conv_general_dilated(
          inputs, k, strides, conv2d.symmetric_padding(kernel_hw),
          dimension_numbers=("NHWC", "HWIO", "NHWC")), kernel)
  output_grad = jnp.asarray(rng.randn(*outputs.shape), jnp.float32)
  ours = conv2d.weight_grad(inputs, output_grad, kernel.shape, strides,
                            chunk_bytes=chunk_bytes)
  np.testing.assert_allclose(ours, xla_vjp(output_grad)[0], atol=1e-4,
                             rtol=1e-5)


def test_frames_per_chunk_divides_the_frames_and_fits():
  assert conv2d._frames_per_chunk(64, 7.5e6, 16e6) == 2
  assert conv2d._frames_per_chunk(16, 4e6, 16e6) == 4
  assert conv2d._frames_per_chunk(7, 1e6, 16e6) == 7
  assert conv2d._frames_per_chunk(7, 3e6, 16e6) == 1  # 7 is prime.
  assert conv2d._frames_per_chunk(8, 1e9, 16e6) == 1


def test_auto_is_fast_on_cpu_and_bad_names_fail():
  assert jax.default_backend() == "cpu"
  assert ops.resolve("auto") == "fast"
  assert ops.resolve("native") == "native"
  with pytest.raises(ValueError, match="model.conv_impl"):
    ops.resolve("cudnn")


@pytest.mark.parametrize("preset", PRESETS)
def test_fast_and_native_models_agree_on_every_preset(preset):
  config = tiny_model_config(preset, width=8, crop=32, frames=8)
  shapes = models.input_shapes(config, 48, batch_size=1)
  rng = np.random.RandomState(0)
  inputs = [jnp.asarray(rng.randn(*s), jnp.float32) for s in shapes]
  native = models.build_model(config, conv_impl="native")
  fast = models.build_model(config, conv_impl="fast")
  variables = random_variables(native, inputs)
  # Op by op: repeated blocks reuse compiled ops, far cheaper than jitting
  # two whole R101 graphs.
  native_out = scorer.release_test_scores(
      native.apply(variables, inputs, output="per_position_logits"))
  fast_out = scorer.release_test_scores(
      fast.apply(variables, inputs, output="per_position_logits"))
  np.testing.assert_allclose(fast_out, native_out, atol=1e-5)
