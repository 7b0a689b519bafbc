"""A checkpoint that does not fit the model is a clear error, never a partial load."""

import pickle

import numpy as np
import pytest
import torch

from slowfast_jax import convert

import convert_references as refs

REFERENCE = "slowfast_8x8_r50_tiny"
pytestmark = refs.requires_references


@pytest.fixture(name="state")
def _state() -> dict[str, torch.Tensor]:
  """The tiny SlowFast 8×8 reference's state dict (10 classes)."""
  return torch.load(refs.REFERENCE_DIR / f"{REFERENCE}.pyth",
                    weights_only=True)["model_state"]


def _save(state, tmp_path) -> str:
  path = tmp_path / "edited.pyth"
  torch.save({"model_state": state}, path)
  return path


@pytest.fixture(name="blobs")
def _blobs() -> dict:
  """The tiny SlowFast 8×8 reference's Caffe2 pickle (`{"blobs": {...}}`)."""
  with open(refs.REFERENCE_DIR / f"{REFERENCE}.pkl", "rb") as f:
    return pickle.load(f, encoding="latin1")  # Our own reference file.


def _save_blobs(blobs, tmp_path) -> str:
  path = tmp_path / "edited.pkl"
  path.write_bytes(pickle.dumps(blobs, protocol=2))
  return path


def _convert(path, **kwargs):
  return convert.convert_checkpoint(path, refs.tiny_config(REFERENCE), **kwargs)


def test_missing_tensor(state, tmp_path):
  del state["s3.pathway1_res2.branch2.b.weight"]
  with pytest.raises(convert.CheckpointMismatchError) as error:
    _convert(_save(state, tmp_path))
  message = str(error.value)
  assert "missing from the checkpoint (1)" in message
  assert "s3.pathway1_res2.branch2.b.weight" in message
  assert "unexpected" not in message and "shape mismatch" not in message


def test_unexpected_tensor(state, tmp_path):
  state["s3.pathway0_nonlocal0.conv_g.weight"] = torch.zeros(16, 64, 1, 1, 1)
  with pytest.raises(convert.CheckpointMismatchError,
                     match=r"unexpected in the checkpoint \(1\):\s+"
                     r"s3.pathway0_nonlocal0.conv_g.weight"):
    _convert(_save(state, tmp_path))


def test_shape_mismatch(state, tmp_path):
  state["s2.pathway0_res0.branch2.a.weight"] = torch.zeros(8, 10, 3, 1, 1)
  with pytest.raises(convert.CheckpointMismatchError,
                     match=r"shape mismatch .*\(1\):\s+"
                     r"s2.pathway0_res0.branch2.a.weight: checkpoint "
                     r"\(8, 10, 3, 1, 1\), model \(8, 10, 1, 1, 1\)"):
    _convert(_save(state, tmp_path))


def test_checkpoint_of_another_preset_lists_every_difference():
  """SlowFast 4×16 weights (fusion kernel 5, α 8) into the 8×8 preset (7, 4)."""
  with pytest.raises(convert.CheckpointMismatchError) as error:
    _convert(refs.REFERENCE_DIR / "slowfast_4x16_r50_tiny.pkl")
  message = str(error.value)
  assert "s1_fuse.conv_f2s.weight (file: t_pool1_subsample_w): checkpoint " \
         "(2, 1, 5, 1, 1), model (2, 1, 7, 1, 1)" in message
  assert "is the config the one the checkpoint was trained with?" in message


def test_caffe2_unknown_blob_is_unexpected(blobs, tmp_path):
  blobs["blobs"]["res2_0_branch2a_w_extra"] = np.zeros(3, np.float32)
  with pytest.raises(convert.CheckpointMismatchError,
                     match="res2_0_branch2a_w_extra"):
    _convert(_save_blobs(blobs, tmp_path))


def test_two_blobs_for_one_tensor(blobs, tmp_path):
  # The s2 fusion is named after the last Fast res2 block (2); a second name
  # for it must not silently win.
  blobs["blobs"]["t_res2_1_branch2c_bn_subsample_w"] = \
      blobs["blobs"]["t_res2_2_branch2c_bn_subsample_w"]
  with pytest.raises(convert.CheckpointMismatchError,
                     match="several tensors map to the same name"):
    _convert(_save_blobs(blobs, tmp_path))


def test_caffe2_trailing_unit_dims_are_tolerated(blobs, tmp_path):
  blobs["blobs"]["pred_w"] = blobs["blobs"]["pred_w"][..., None, None, None]
  blobs["blobs"]["res_conv1_bn_s"] = blobs["blobs"]["res_conv1_bn_s"][:, None]
  variables, _ = _convert(_save_blobs(blobs, tmp_path))
  np.testing.assert_array_equal(
      variables["params"]["head"]["projection"]["kernel"],
      blobs["blobs"]["pred_w"][..., 0, 0, 0].T)


def test_other_class_count_needs_an_explicit_option():
  path = refs.REFERENCE_DIR / f"{REFERENCE}.pyth"  # 10 classes.
  config = refs.tiny_config(REFERENCE)
  config.num_classes = 7
  with pytest.raises(convert.CheckpointMismatchError,
                     match=r"classifier has 10 classes but the model has "
                     r"num_classes=7.*num_classes=10.*head='reinit'"):
    convert.convert_checkpoint(path, config)

  # Keep the checkpoint's 10-class classifier.
  variables, _ = convert.convert_checkpoint(path, config, num_classes=10)
  assert variables["params"]["head"]["projection"]["bias"].shape == (10,)

  # Or start a new 7-class classifier; the old one is reported as dropped.
  variables, report = convert.convert_checkpoint(path, config, head="reinit")
  kernel = variables["params"]["head"]["projection"]["kernel"]
  assert kernel.shape == (288, 7)
  assert 0.005 < kernel.std() < 0.02  # The model's init: N(0, 0.01²).
  np.testing.assert_array_equal(
      variables["params"]["head"]["projection"]["bias"], np.zeros(7))
  assert sorted(report.dropped_head) == ["head.projection.bias",
                                        "head.projection.weight"]
  assert "new classifier with 7 classes" in report.head
