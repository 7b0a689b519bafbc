"""The config stored with a checkpoint against the one a command is given."""

import json

import numpy as np
import pytest

from slowfast_jax import checkpoint
from slowfast_jax import checkpoint_config
from slowfast_jax import config_lib

import train_configs


def _stored(config) -> dict:
  """What training stores: the model and the whole config, as JSON."""
  return {"model": json.loads(config.model.to_json()),
          "config": json.loads(config.to_json_best_effort())}


def test_model_differences_name_fields_and_ignore_the_free_ones():
  slowfast = train_configs.tiny_train_config()
  assert checkpoint_config.model_differences(
      _stored(slowfast)["model"], slowfast.model) == []
  other = train_configs.tiny_train_config(bn_group_size=4)
  other.model.dtype = "bfloat16"  # Numerics, not the model: may differ.
  other.model.num_classes = 7
  assert checkpoint_config.model_differences(
      _stored(slowfast)["model"], other.model) == [
          "model.num_classes: checkpoint 4, config 7"]
  slow = train_configs.tiny_train_config(arch="slow")
  differences = checkpoint_config.model_differences(
      _stored(slowfast)["model"], slow.model)
  assert differences[0] == "model.arch: checkpoint 'slowfast', config 'slow'"
  # A field the checkpoint predates is not a difference.
  stored = dict(_stored(slowfast)["model"], arch="slow")
  del stored["nonlocal_location"], stored["num_block_temp_kernel"]
  assert checkpoint_config.model_differences(stored, slow.model) == []


def test_stored_config_with_overrides_or_a_given_config_of_the_same_model():
  trained = train_configs.tiny_train_config()
  metadata = _stored(trained)
  config = checkpoint_config.inference_config(
      metadata, "CKPT", overrides={"data.data_dir": "/data",
                                   "eval.num_clips": 2})
  assert config.data.data_dir == "/data" and config.eval.num_clips == 2
  assert config.model.to_dict() == trained.model.to_dict()
  assert config.global_batch_size == trained.global_batch_size

  given = train_configs.tiny_train_config()
  assert checkpoint_config.inference_config(
      metadata, "CKPT", given=given, given_file="F") is given
  given.model.width_per_group = 16
  with pytest.raises(checkpoint.CheckpointError,
                     match=r"^--config F does not fit the checkpoint CKPT "
                     r"\(model.width_per_group: checkpoint 8, config 16\); "
                     "leave out --config"):
    checkpoint_config.inference_config(metadata, "CKPT", given=given,
                                       given_file="F")


def test_converted_checkpoint_uses_its_preset_with_the_stored_model():
  model = config_lib.model_config(arch="slow", num_frames=8)
  model.width_per_group, model.train_crop_size = 8, 64
  metadata = {"model": model.to_dict(),
              "config_file": "elsewhere/slow_8x8_r50.py"}  # Found in configs/.
  config = checkpoint_config.inference_config(metadata, "CKPT")
  assert config.model.width_per_group == 8
  assert config.data.sampling_rate == 8  # The preset's, not the default 2.
  assert config.data.train_crop_size == 64  # Follows the stored model.
  metadata["config_file"] = "elsewhere/no_such_preset.py"
  with pytest.raises(checkpoint.CheckpointError,
                     match="CKPT was converted with --config elsewhere/"
                     "no_such_preset.py, which is not found; pass --config"):
    checkpoint_config.inference_config(metadata, "CKPT")
  with pytest.raises(checkpoint.CheckpointError, match="CKPT stores no config"):
    checkpoint_config.inference_config({}, "CKPT")


def test_check_resume_compares_the_latest_steps_model(tmp_path):
  slowfast = train_configs.tiny_train_config()
  checkpoint_config.check_resume(tmp_path, slowfast)  # Nothing saved yet.
  variables = {"params": {"w": np.zeros(2, np.float32)}}
  checkpoint.save_variables(tmp_path / checkpoint.WORKDIR_SUBDIR, variables,
                            step=3, metadata=_stored(slowfast))
  checkpoint_config.check_resume(tmp_path, slowfast)
  with pytest.raises(checkpoint.CheckpointError,
                     match=f"^--workdir {tmp_path} holds a run of another "
                     r"model \(step 3: model.arch: checkpoint 'slowfast', "
                     "config 'slow'; .*another --workdir"):
    checkpoint_config.check_resume(
        tmp_path, train_configs.tiny_train_config(arch="slow"))
