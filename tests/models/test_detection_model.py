"""The detection models (AVA presets): structure, boxes and padding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from slowfast_jax import models
from slowfast_jax.convert import target
from slowfast_jax.ops import conv3d
from slowfast_jax.models import detection_head

from model_configs import AVA_PRESETS
from model_configs import load_preset
from model_configs import random_variables
from model_configs import tiny_model_config

# The release's Kinetics parameter counts (release_facts.md §1.11) with the
# 400-class classifier replaced by an 80-class one; dilation and strides add
# no parameters. SlowFast: 2304 → 80, Slow: 2048 → 80.
_SLOWFAST_HEAD_DELTA = (2304 * 80 + 80) - (2304 * 400 + 400)
_SLOW_HEAD_DELTA = (2048 * 80 + 80) - (2048 * 400 + 400)
AVA_PARAMS = {
    "ava_slowfast_32x2_r50": 34_566_488 + _SLOWFAST_HEAD_DELTA,
    "ava_slowfast_32x2_r50_short": 34_566_488 + _SLOWFAST_HEAD_DELTA,
    # = c2/SLOWFAST_NLN_16x8_R101_50_50's (non-local after res4 6, 13, 20).
    "ava_slowfast_32x2_r101_50_50": 60_080_088 + _SLOWFAST_HEAD_DELTA,
    "ava_slowfast_64x2_r101_50_50": 60_080_088 + _SLOWFAST_HEAD_DELTA,
    "ava_slow_8x8_r50": 32_454_096 + _SLOW_HEAD_DELTA,
    "ava_slow_8x8_r50_short": 32_454_096 + _SLOW_HEAD_DELTA,
}


def test_every_ava_preset_is_covered():
  assert sorted(AVA_PARAMS) == AVA_PRESETS


@pytest.mark.parametrize("preset", AVA_PRESETS)
def test_parameter_count(preset):
  shapes = target.abstract_variables(load_preset(preset).model)["params"]
  count = sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))
  assert count == AVA_PARAMS[preset]


# Release yaml values: (NUM_FRAMES, SAMPLING_RATE, FUSION_KERNEL_SZ, DEPTH,
# ALIGNED, TEST_CROP_SIZE, TRAIN.BATCH_SIZE, DETECTION_SCORE_THRESH,
# MAX_EPOCH, LR_POLICY).
RELEASE_YAML = {
    "ava_slowfast_32x2_r50": (32, 2, 7, 50, False, 256, 16, 0.8, 300, "cosine"),
    "ava_slowfast_32x2_r101_50_50": (32, 2, 5, 101, False, 256, 16, 0.8, 300,
                                     "cosine"),
    "ava_slowfast_64x2_r101_50_50": (64, 2, 5, 101, False, 256, 16, 0.8, 300,
                                     "cosine"),
    "ava_slow_8x8_r50": (4, 16, 7, 50, False, 256, 64, 0.9, 300, "cosine"),
    "ava_slowfast_32x2_r50_short": (32, 2, 7, 50, True, 224, 64, 0.8, 20,
                                    "steps_with_relative_lrs"),
    "ava_slow_8x8_r50_short": (4, 16, 7, 50, True, 256, 64, 0.9, 20,
                               "steps_with_relative_lrs"),
}


@pytest.mark.parametrize("preset", AVA_PRESETS)
def test_preset_values_are_the_release_yamls(preset):
  config = load_preset(preset)
  m, d = config.model, config.data
  assert (m.num_frames, d.sampling_rate, m.fusion_kernel, m.depth,
          m.detection_aligned, d.test_crop_size, config.global_batch_size,
          d.detection_score_thresh, config.num_epochs,
          config.optim.lr_policy) == RELEASE_YAML[preset]
  assert (m.num_classes, m.spatial_strides, m.spatial_dilations) == (
      80, [1, 2, 2, 1], [1, 1, 1, 2])
  assert (config.optim.weight_decay, config.optim.base_lr) == (1e-7, 0.1)
  r101 = m.depth == 101
  assert m.nonlocal_pool == ([2, 2, 2] if r101 else [1, 2, 2])
  assert m.nonlocal_location[2][0] == ([6, 13, 20] if r101 else [])
  iou = 75 if preset == "ava_slow_8x8_r50" else 90
  assert d.test_predict_box_lists == [
      f"person_box_67091280_iou{iou}/ava_detection_val_boxes_and_labels.csv"]
  assert len(d.train_predict_box_lists) == (2 if "short" in preset else 0)


def _tiny(preset="ava_slowfast_32x2_r50", frames=8):
  config = tiny_model_config(preset, width=8, classes=5, crop=64,
                             frames=frames)
  model = models.build_model(config)
  rng = np.random.RandomState(0)
  inputs = [jnp.asarray(rng.randn(*s), jnp.float32)
            for s in models.input_shapes(config, 64, batch_size=2)]
  return config, model, inputs


def test_res5_keeps_res4_resolution_and_init_uses_whole_frame_boxes():
  _, model, inputs = _tiny()
  variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), inputs)
  output, state = jax.eval_shape(
      lambda v, x: model.apply(v, x, mutable=["intermediates"]),
      variables, inputs)
  res4, res5 = (state["intermediates"][f"res{k}"][0] for k in (4, 5))
  assert [f.shape[2:4] for f in res4] == [(4, 4), (4, 4)]  # 64 / 16.
  assert [f.shape[2:4] for f in res5] == [(4, 4), (4, 4)]
  assert output.shape == (2, 1, 5)  # One whole-frame box per clip.
  kernel = variables["params"]["head"]["projection"]["kernel"]
  assert kernel.shape == (64 * 4 + 64 * 4 // 8, 5)  # Slow + Fast res5 widths.


REAL_BOXES = np.asarray([[[4.0, 6.0, 40.0, 60.0], [30.0, 2.0, 63.0, 45.0]],
                         [[0.0, 0.0, 64.0, 64.0], [19.0, 19.0, 23.0, 24.0]]],
                        np.float32)


def _padded(boxes):
  """Three extra slots per clip holding garbage, masked out."""
  garbage = np.asarray([[np.nan, 0.0, np.nan, 5.0], [-1e9, -1e9, 1e9, 1e9],
                        [50.0, 50.0, 10.0, 10.0]], np.float32)
  padded = np.concatenate([boxes, np.stack([garbage] * len(boxes))], axis=1)
  mask = np.arange(padded.shape[1]) < boxes.shape[1]
  return padded, np.broadcast_to(mask, padded.shape[:2])


def test_padded_boxes_change_no_real_box_output_or_gradient():
  """The head alone (the backbone never sees boxes), output and gradients."""
  rng = np.random.RandomState(0)
  features = [jnp.asarray(rng.randn(2, t, 4, 4, c), jnp.float32)
              for t, c in ((2, 16), (8, 4))]
  head = detection_head.DetectionHead(5, aligned=False)
  params = head.init(jax.random.PRNGKey(0), features, REAL_BOXES,
                     np.ones((2, 2), bool))

  @jax.jit
  def logits_and_grad(params, features, boxes, box_mask):
    def loss(params, features):
      logits = head.apply(params, features, boxes, box_mask)
      return (logits ** 2).sum(), logits
    return jax.grad(loss, (0, 1), has_aux=True)(params, features)

  grad, logits = logits_and_grad(params, features, REAL_BOXES,
                                 np.ones(REAL_BOXES.shape[:2], bool))
  padded_grad, padded_logits = logits_and_grad(params, features,
                                               *_padded(REAL_BOXES))
  padded_logits = np.asarray(padded_logits)
  assert np.abs(np.asarray(logits)).max() > 0.01
  np.testing.assert_allclose(padded_logits[:, :2], logits, rtol=0, atol=1e-6)
  np.testing.assert_array_equal(padded_logits[:, 2:], 0.0)
  # Only float rounding: the sums over boxes see other shapes. A NaN from
  # the garbage boxes would fail here.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-6),
               padded_grad, grad)


def test_fast_and_native_convolutions_agree_and_padding_changes_nothing():
  config, native, inputs = _tiny("ava_slow_8x8_r50", 4)
  fast = models.build_model(config, conv_impl="fast")
  native = models.build_model(config, conv_impl="native")
  variables = random_variables(native, inputs)
  # Op by op: cheaper than compiling two graphs.
  native_logits = native.apply(variables, inputs, boxes=REAL_BOXES)
  np.testing.assert_allclose(
      fast.apply(variables, inputs, boxes=REAL_BOXES), native_logits,
      rtol=0, atol=1e-5)
  boxes, box_mask = _padded(REAL_BOXES)
  padded_logits = native.apply(variables, inputs, boxes=boxes,
                               box_mask=box_mask)
  np.testing.assert_allclose(padded_logits[:, :2], native_logits, rtol=0,
                             atol=1e-6)


def test_training_mode_uses_dropout_and_bad_boxes_fail():
  _, model, inputs = _tiny("ava_slow_8x8_r50", 4)
  variables = random_variables(model, inputs)
  rngs = {"dropout": jax.random.PRNGKey(0)}
  train_logits, _ = model.apply(variables, inputs, train=True,
                                boxes=REAL_BOXES, rngs=rngs,
                                mutable=["batch_stats"])
  assert train_logits.shape == (2, 2, 5)
  with pytest.raises(ValueError, match="boxes has shape"):
    model.apply(variables, inputs, boxes=REAL_BOXES[0])
  with pytest.raises(ValueError, match="box_mask has shape"):
    model.apply(variables, inputs, boxes=REAL_BOXES,
                box_mask=np.ones((2, 3), bool))


def test_kinetics_presets_are_unchanged():
  model = models.build_model(load_preset("slowfast_8x8_r50").model)
  assert not model.detection
  assert tuple(model.spatial_strides) == (1, 2, 2, 2)
  assert tuple(model.spatial_dilations) == (1, 1, 1, 1)


@pytest.mark.parametrize("impl", ["native", "fast"])
@pytest.mark.parametrize("stride", [1, 2])
def test_dilated_conv_equals_torch(impl, stride):
  """res5's 3×3 with dilation 2: padding 2, as the release's Conv3d."""
  rng = np.random.RandomState(0)
  x = rng.randn(2, 3, 9, 8, 4).astype(np.float32)
  kernel = rng.randn(1, 3, 3, 4, 5).astype(np.float32)
  result = conv3d.conv3d(jnp.asarray(x), jnp.asarray(kernel),
                         (1, stride, stride), impl, dilation=(1, 2, 2))
  expected = torch.nn.functional.conv3d(
      torch.tensor(x.transpose(0, 4, 1, 2, 3)),
      torch.tensor(kernel.transpose(4, 3, 0, 1, 2)), stride=(1, stride, stride),
      padding=(0, 2, 2), dilation=(1, 2, 2))
  np.testing.assert_allclose(np.asarray(result),
                             expected.numpy().transpose(0, 2, 3, 4, 1),
                             rtol=0, atol=1e-5)
