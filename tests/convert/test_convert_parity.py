"""Converted release checkpoints give the release's outputs in the JAX model."""

import functools

import jax
import numpy as np
import pytest
import torch

from slowfast_jax import convert
from slowfast_jax import models
from slowfast_jax.evaluation import scorer

import convert_references as refs
from model_configs import load_preset
import torch_stubs

TOLERANCE = 1e-4  # fp32, absolute, on probabilities / logits.


@functools.cache
def _compiled_apply(reference: str):
  """A jitted eval-mode forward of the reference's model, shared by formats."""
  model = models.build_model(refs.tiny_config(reference))
  return jax.jit(functools.partial(model.apply, train=False,
                                   output="per_position_logits"))


@refs.requires_references
@pytest.mark.parametrize("extension", ["pyth", "pkl"])
@pytest.mark.parametrize("reference", refs.REFERENCES)
def test_release_checkpoint_gives_release_output(reference, extension):
  config = refs.tiny_config(reference)
  path = refs.REFERENCE_DIR / f"{reference}.{extension}"
  variables = convert.load_torch_checkpoint(path, config)
  pathways, expected = refs.inputs_and_output(reference)

  per_position = _compiled_apply(reference)(variables, pathways)
  # The classifier at every position of the head's map (1×1×1 at the training
  # crop, 1×2×2 for the crop-96 reference) ...
  np.testing.assert_allclose(per_position,
                             refs.projection_output(reference), rtol=0,
                             atol=TOLERANCE)
  # ... and the release's eval output: softmax at each position, averaged.
  scores = np.asarray(scorer.release_test_scores(per_position))
  assert scores.shape == expected.shape
  np.testing.assert_allclose(scores, expected, rtol=0, atol=TOLERANCE)


@refs.requires_references
@pytest.mark.parametrize("reference", refs.REFERENCES)
def test_pyth_and_caffe2_pkl_give_identical_variables(reference):
  config = refs.tiny_config(reference)
  from_pyth, pyth_report = convert.convert_checkpoint(
      refs.REFERENCE_DIR / f"{reference}.pyth", config)
  from_pkl, pkl_report = convert.convert_checkpoint(
      refs.REFERENCE_DIR / f"{reference}.pkl", config)
  jax.tree.map(np.testing.assert_array_equal, from_pyth, from_pkl)
  assert pyth_report.naming == "pyslowfast"
  assert pkl_report.naming == "caffe2"
  # The optimizer blobs the release's Caffe2 files carry are reported.
  assert "lr" in pkl_report.ignored and "model_iter" in pkl_report.ignored
  assert any("momentum" in name for name in pkl_report.ignored)
  assert pyth_report.num_dropped_buffers > 0  # num_batches_tracked


def _randomize_batch_norms(net: torch.nn.Module) -> None:
  """Random BN statistics and affine parameters, so BN is not the identity."""
  for module in net.modules():
    if isinstance(module, torch.nn.BatchNorm3d):
      module.running_mean.normal_(0.0, 0.1)
      module.running_var.uniform_(0.5, 1.5)
      module.weight.data.uniform_(0.25, 0.75)
      module.bias.data.normal_(0.0, 0.1)


def _outputs(model, variables, pathways):
  """Logits, per-position logits and pooled features of one forward each."""
  return (model.apply(variables, pathways),
          model.apply(variables, pathways, output="per_position_logits"),
          model.apply(variables, pathways, output="features"))


def test_pytorchvideo_slowfast_r50_gives_its_output(tmp_path):
  """Hub `slowfast_r50` (random weights), 8 frames at 64 and 96 px: same logits.

  The hub head pools with (8, 7, 7) / (32, 7, 7) for 224-px, 32-frame clips;
  here it gets the windows the JAX model derives for 64 px and 8 frames. The
  hub head returns the mean of the logits over the pooled map (no softmax):
  at 64 px (one position) those are the logits the JAX model returns; at
  96 px (2×2 positions) the hub's output is the mean of its per-position
  logits, which is what the JAX model returns at any crop.
  """
  hub = torch_stubs.import_pytorchvideo_hub()
  torch.manual_seed(0)
  net = hub.slowfast_r50(pretrained=False,
                         head_pool_kernel_sizes=((2, 2, 2), (8, 2, 2)))
  _randomize_batch_norms(net)
  with torch.no_grad():
    net.blocks[6].proj.weight.normal_(0.0, 0.05)  # Logits of a few units.
    net.blocks[6].proj.bias.normal_(0.0, 0.1)
  net.eval()
  path = tmp_path / "slowfast_r50.pyth"
  torch.save(net.state_dict(), path)

  config = load_preset("slowfast_8x8_r50").model
  config.num_frames = 8
  config.train_crop_size = 64
  variables, report = convert.convert_checkpoint(path, config)
  assert report.naming == "pytorchvideo"
  forward = jax.jit(functools.partial(_outputs, models.build_model(config)))
  # The hub head's classifier input (pooled, concatenated pathways).
  head_inputs = []
  net.blocks[6].proj.register_forward_hook(
      lambda module, args, out: head_inputs.append(args[0].detach().numpy()))
  rng = np.random.RandomState(0)
  for crop in (64, 96):
    fast = rng.randn(1, 3, 8, crop, crop).astype(np.float32)
    slow = fast[:, :, ::4].copy()
    with torch.no_grad():
      expected = net([torch.from_numpy(slow), torch.from_numpy(fast)]).numpy()
    assert np.abs(expected).max() > 0.5  # Not a comparison of near-zeros.
    pathways = [slow.transpose(0, 2, 3, 4, 1), fast.transpose(0, 2, 3, 4, 1)]
    output, per_position, features = forward(variables, pathways)
    # (1, t, h, w, 2304) before the mean over positions: 2048 Slow + 256 Fast.
    head_input = head_inputs.pop()
    assert head_input.shape[-1] == features["concat"].shape[-1] == 2304
    np.testing.assert_allclose(features["concat"],
                               head_input.mean(axis=(1, 2, 3)), rtol=0,
                               atol=TOLERANCE)
    assert per_position.shape[1:4] == ((1, 1, 1) if crop == 64 else (1, 2, 2))
    np.testing.assert_allclose(
        np.asarray(per_position.mean(axis=(1, 2, 3))), expected,
        rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(np.asarray(output), expected, rtol=0,
                               atol=TOLERANCE)
