"""Config validation, checkpoint retention and fine-tuning initialization."""

import jax
import numpy as np
import pytest

from slowfast_jax import checkpoint
from slowfast_jax import models
from slowfast_jax import train_lib
from slowfast_jax import validate

import model_configs
import train_configs


def check(config, devices=1):
  validate.validate_config(config, device_count=devices)


@pytest.mark.parametrize("name",
                         model_configs.PRESETS + model_configs.AVA_PRESETS +
                         model_configs.CHARADES_PRESETS)
def test_precise_bn_where_the_release_has_it(name):
  """BN.USE_PRECISE_STATS (NUM_BATCHES_PRECISE 200): True in the release's
  Kinetics and Charades configs, False in its AVA configs."""
  config = model_configs.load_preset(name)
  assert config.precise_bn.enabled == (not name.startswith("ava_"))
  assert config.precise_bn.num_batches == 200
  validate.validate_schedule(config)
  config.precise_bn.num_batches = 0
  if config.precise_bn.enabled:
    with pytest.raises(validate.ConfigError,
                       match=r"config.precise_bn.num_batches=0 must be >= 1"):
      validate.validate_schedule(config)


def test_tiny_config_is_valid():
  check(train_configs.tiny_train_config(), devices=8)


@pytest.mark.parametrize("field, value, devices, message", [
    ("global_batch_size", 12, 8,
     "config.global_batch_size=12 is not divisible by the 8 devices"),
    ("model.num_frames", 10, 1,
     "config.model.num_frames=10 is not divisible by config.model.alpha=4"),
    ("model.arch", "x3d", 1, "config.model.arch='x3d' is not one of"),
    ("model.dtype", "float16", 1, "config.model.dtype='float16'"),
    ("model.bn_group_size", 5, 1,
     "config.model.bn_group_size=5 does not divide"),
    # 24 clips on 2 devices = 12 per device: groups of 8 would straddle them.
    ("model.bn_group_size", 8, 2,
     "config.model.bn_group_size=8 does not align with the 12 clips per "
     "device"),
    ("init_head", "drop", 1, "config.init_head='drop'"),
    ("eval.batch_size", 4, 8, "config.eval.batch_size=4"),
    ("optim.warmup_epochs", 5.0, 1, "config.optim.warmup_epochs=5.0"),
])
def test_invalid_field_is_named(field, value, devices, message):
  config = train_configs.tiny_train_config(batch=24)
  section, _, key = field.rpartition(".")
  (config[section] if section else config)[key] = value
  with pytest.raises(validate.ConfigError) as error:
    check(config, devices=devices)
  assert message in str(error.value)


def test_missing_dataset_is_named(tmp_path):
  config = train_configs.tiny_train_config()
  config.data.name = "kinetics400"
  with pytest.raises(validate.ConfigError, match="config.data.data_dir is "
                     "not set"):
    check(config)
  config.data.data_dir = str(tmp_path)
  with pytest.raises(validate.ConfigError,
                     match="dataset 'kinetics400' not found"):
    check(config)


def test_checkpoints_keep_the_last_k_and_the_best(tmp_path):
  manager = checkpoint.training_manager(tmp_path, keep_last=2,
                                        async_save=False)
  top1 = {2: 0.9, 4: 0.5, 6: 0.7}  # Validation at steps 2, 4, 6.
  for step in range(1, 8):
    checkpoint.save_training_state(
        manager, step, variables={"params": {"w": np.full(3, step, np.float32)},
                                  "batch_stats": {}},
        opt_state={"m": np.zeros(3, np.float32)}, train_meta={"step": step},
        metadata={"class_names": []},
        metrics={"val_top1": top1[step]} if step in top1 else None)
  manager.wait_until_finished()
  assert manager.all_steps() == [2, 6, 7]
  manager.close()
  # Evaluation reads just the variables of a training checkpoint.
  variables, metadata = checkpoint.restore_variables(tmp_path, step=2)
  np.testing.assert_array_equal(variables["params"]["w"], [2, 2, 2])
  assert metadata == {"class_names": []}


@pytest.fixture(scope="module")
def tiny_model():
  config = train_configs.tiny_train_config()
  model = models.build_model(config.model)
  return config, model, train_lib.init_variables(model, config.model,
                                                 jax.random.key(0))


def test_init_from_keeps_or_reinitializes_the_head(tmp_path, tiny_model):
  config, model, variables = tiny_model
  variables = jax.tree.map(np.asarray, variables)
  # A "converted" checkpoint: the same network with 7 classes and
  # recognizable weights.
  other = config.model.copy_and_resolve_references()
  other.num_classes = 7
  pretrained = jax.tree.map(
      lambda x: np.asarray(x) + 1.0,
      train_lib.init_variables(models.build_model(other), other,
                               jax.random.key(1)))
  checkpoint.save_variables(tmp_path / "pretrained", pretrained,
                            metadata={"class_names": None})
  config.init_from = str(tmp_path / "pretrained")

  config.init_head = "keep"
  with pytest.raises(ValueError, match="init_head='reinit'"):
    train_lib.load_pretrained(config, variables)

  config.init_head = "reinit"
  loaded = train_lib.load_pretrained(config, variables)
  np.testing.assert_array_equal(
      loaded["params"]["head"]["projection"]["kernel"],
      variables["params"]["head"]["projection"]["kernel"])
  np.testing.assert_array_equal(
      loaded["params"]["slow_stem"]["conv"]["kernel"],
      pretrained["params"]["slow_stem"]["conv"]["kernel"])
  np.testing.assert_array_equal(
      jax.tree.leaves(loaded["batch_stats"])[0],
      jax.tree.leaves(pretrained["batch_stats"])[0])
