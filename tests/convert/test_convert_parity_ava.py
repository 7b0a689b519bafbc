"""Converted release AVA checkpoints give the release's per-box outputs."""

import functools

import jax
import numpy as np
import pytest

from slowfast_jax import convert
from slowfast_jax import models
from slowfast_jax.models import detection_head

import convert_references as refs
from test_convert_parity import TOLERANCE


@functools.cache
def _compiled_apply(reference: str):
  model = models.build_model(refs.ava_tiny_config(reference))
  return jax.jit(functools.partial(model.apply, train=False))


def _formats(reference: str) -> list[str]:
  return [ext for ext in ("pyth", "pkl")
          if (refs.AVA_REFERENCE_DIR / f"{reference}.{ext}").exists()]


@refs.requires_ava_references
def test_every_ava_preset_but_64x2_has_a_reference():
  """Five references; the 64×2 preset differs from 32×2 R101 only in frames."""
  presets = {refs.preset_of(r) for r in refs.AVA_REFERENCES}
  assert len(presets) == 5 and "ava_slowfast_64x2_r101_50_50" not in presets


@refs.requires_ava_references
@pytest.mark.parametrize("reference", refs.AVA_REFERENCES)
def test_release_detection_checkpoint_gives_release_output(reference):
  io = refs.ava_inputs_and_outputs(reference)
  # Padding: 4 slots for 3 boxes per clip.
  assert not io["box_mask"].all()
  for extension in _formats(reference):
    variables = convert.load_torch_checkpoint(
        refs.AVA_REFERENCE_DIR / f"{reference}.{extension}",
        refs.ava_tiny_config(reference))
    logits = np.asarray(_compiled_apply(reference)(
        variables, io["pathways"], boxes=io["boxes"], box_mask=io["box_mask"]))
    real = logits[io["box_mask"]]
    np.testing.assert_allclose(real, io["projection_output"], rtol=0,
                               atol=TOLERANCE)
    scores = np.asarray(detection_head.release_test_scores(real))
    np.testing.assert_allclose(scores, io["output"], rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(logits[~io["box_mask"]], 0.0)


@refs.requires_ava_references
def test_caffe2_pkl_and_pyth_give_identical_variables():
  for reference in refs.AVA_REFERENCES:
    if len(_formats(reference)) < 2:
      continue
    config = refs.ava_tiny_config(reference)
    from_pyth = convert.load_torch_checkpoint(
        refs.AVA_REFERENCE_DIR / f"{reference}.pyth", config)
    from_pkl = convert.load_torch_checkpoint(
        refs.AVA_REFERENCE_DIR / f"{reference}.pkl", config)
    jax.tree.map(np.testing.assert_array_equal, from_pyth, from_pkl)


@refs.requires_references
def test_kinetics_checkpoint_initializes_the_detection_backbone():
  """AVA training starts from Kinetics: same tensors, a new 80-class head."""
  path = refs.REFERENCE_DIR / "slowfast_8x8_r50_tiny.pkl"
  kinetics = convert.load_torch_checkpoint(
      path, refs.tiny_config("slowfast_8x8_r50_tiny"))
  ava_config = refs.ava_tiny_config("ava_slowfast_32x2_r50_short_tiny")
  ava_config.num_classes = 80
  ava, report = convert.convert_checkpoint(path, ava_config, head="reinit")
  assert report.dropped_head == ["pred_w", "pred_b"]
  assert ava["params"]["head"]["projection"]["kernel"].shape == (288, 80)
  del kinetics["params"]["head"], ava["params"]["head"]
  jax.tree.map(np.testing.assert_array_equal, ava, kinetics)
