"""Format sniffing and safe loading: no code from a checkpoint file ever runs."""

import os
import pickle
import shutil

import numpy as np
import pytest
import torch

from slowfast_jax import convert
from slowfast_jax.convert import formats
from slowfast_jax.convert import safe_pickle

import convert_references as refs

REFERENCE = "slowfast_8x8_r50_tiny"


class _RunsCommand:
  """Unpickling this calls `os.system(command)`."""

  def __init__(self, command: str):
    self.command = command

  def __reduce__(self):
    return (os.system, (self.command,))


def _malicious_caffe2_pickle(marker) -> bytes:
  return pickle.dumps({"blobs": {"conv1_w": _RunsCommand(f"touch {marker}")}},
                      protocol=2)


def test_crafted_pickle_really_runs_a_command_with_plain_pickle(tmp_path):
  """Control: the payload used below is live under `pickle.loads`."""
  marker = tmp_path / "ran"
  pickle.loads(_malicious_caffe2_pickle(marker))
  assert marker.exists()


@pytest.mark.parametrize("file_name", ["evil.pkl", "evil.pyth"])
def test_crafted_pickle_is_refused_without_running(tmp_path, file_name):
  marker = tmp_path / "ran"
  path = tmp_path / file_name
  path.write_bytes(_malicious_caffe2_pickle(marker))
  assert formats.sniff_format(path) == formats.CAFFE2_PICKLE
  with pytest.raises(convert.UnsafePickleError, match="posix.system|nt.system"):
    convert.load_torch_checkpoint(path, refs.tiny_config(REFERENCE))
  assert not marker.exists()


@pytest.mark.parametrize("zip_format", [True, False])
def test_crafted_torch_file_is_refused_without_running(tmp_path, zip_format):
  marker = tmp_path / "ran"
  path = tmp_path / "evil.pyth"
  torch.save({"model_state": {"w": torch.zeros(1)},
              "cfg": _RunsCommand(f"touch {marker}")}, path,
             _use_new_zipfile_serialization=zip_format)
  expected = formats.TORCH_ZIP if zip_format else formats.TORCH_LEGACY
  assert formats.sniff_format(path) == expected
  with pytest.raises(convert.UnsafePickleError, match="weights_only"):
    convert.load_torch_checkpoint(path, refs.tiny_config(REFERENCE))
  assert not marker.exists()


def test_object_arrays_are_refused(tmp_path):
  path = tmp_path / "objects.pkl"
  path.write_bytes(pickle.dumps(
      {"blobs": {"pred_b": np.array([1, "a"], dtype=object)}}, protocol=2))
  with pytest.raises(convert.UnsafePickleError, match="Object-dtype"):
    formats.read_tensors(path)


def test_safe_pickle_reads_numpy_arrays_of_any_protocol():
  blobs = {"blobs": {"a_w": np.arange(6, dtype=np.float32).reshape(2, 3),
                     "model_iter": np.array([7], np.int64),
                     "lr": np.float32(0.1)}}
  for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
    loaded = safe_pickle.load(pickle.dumps(blobs, protocol=protocol))
    np.testing.assert_array_equal(loaded["blobs"]["a_w"], blobs["blobs"]["a_w"])
    assert loaded["blobs"]["lr"] == np.float32(0.1)


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
  path = tmp_path / "notes.pkl"
  path.write_text("these are not weights")
  with pytest.raises(convert.CheckpointFormatError, match="neither a torch"):
    formats.read_tensors(path)
  path.write_bytes(pickle.dumps({"weights": [1, 2]}, protocol=2))
  with pytest.raises(convert.CheckpointFormatError, match="no model weights"):
    formats.read_tensors(path)


@refs.requires_references
def test_format_comes_from_content_not_name(tmp_path):
  """A `.pkl` that is really a torch file (as some zoo files are) converts."""
  config = refs.tiny_config(REFERENCE)
  disguised = tmp_path / "SLOWFAST.pkl"
  shutil.copy(refs.REFERENCE_DIR / f"{REFERENCE}.pyth", disguised)
  variables, report = convert.convert_checkpoint(disguised, config)
  assert report.file_format == formats.TORCH_ZIP
  assert report.container_key == "model_state"
  expected = convert.load_torch_checkpoint(
      refs.REFERENCE_DIR / f"{REFERENCE}.pkl", config)
  np.testing.assert_array_equal(
      variables["params"]["slow_stem"]["conv"]["kernel"],
      expected["params"]["slow_stem"]["conv"]["kernel"])


@refs.requires_references
def test_legacy_torch_format_and_wrapper_prefixes(tmp_path):
  """Legacy (non-zip) `torch.save` with DDP's `module.` prefix converts."""
  config = refs.tiny_config(REFERENCE)
  state = torch.load(refs.REFERENCE_DIR / f"{REFERENCE}.pyth",
                     weights_only=True)["model_state"]
  path = tmp_path / "legacy.pyth"
  torch.save({"model_state": {f"module.{k}": v for k, v in state.items()}},
             path, _use_new_zipfile_serialization=False)
  variables, report = convert.convert_checkpoint(path, config)
  assert report.file_format == formats.TORCH_LEGACY
  assert report.stripped_prefix == "module."
  np.testing.assert_array_equal(
      variables["params"]["head"]["projection"]["kernel"],
      state["head.projection.weight"].numpy().T)
  np.testing.assert_array_equal(
      variables["batch_stats"]["fuse1"]["bn"]["var"],
      state["s1_fuse.bn.running_var"].numpy())
