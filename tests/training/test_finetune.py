"""Fine-tuning: frozen stages and BatchNorm, the recipe's config checks, and
the recipe end to end (class folders -> prepare -> train -> eval -> predict)."""

import json
import pathlib
import subprocess
import sys

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from slowfast_jax import checkpoint
from slowfast_jax import models
from slowfast_jax import optim
from slowfast_jax import validate
from slowfast_jax.models import norm
from slowfast_jax.training import freeze

from data_fixtures import write_counter_video
import eval_configs
import processes
import train_configs

ROOT = pathlib.Path(__file__).resolve().parents[2]
RECIPE = str(ROOT / "configs" / "finetune.py")


def _abstract_params(arch="slowfast"):
  config = train_configs.tiny_train_config(arch=arch)
  model = models.build_model(config.model)
  inputs = [jnp.zeros(s) for s in models.input_shapes(config.model, 32)]
  return jax.eval_shape(model.init, jax.random.key(0), inputs)["params"]


@pytest.mark.parametrize("name, stage", [
    ("slow_stem", 1), ("fast_stem", 1), ("fuse1", 1), ("slow_res2", 2),
    ("fuse2", 2), ("fast_res4", 4), ("slow_res5", 5), ("head", None)])
def test_module_stage_is_the_release_stage(name, stage):
  assert freeze.module_stage(name) == stage


@pytest.mark.parametrize("arch", ["slowfast", "slow"])
def test_frozen_stages_label_whole_modules_up_to_the_stage(arch):
  params = _abstract_params(arch)
  for frozen_stages in range(freeze.MAX_FROZEN_STAGES + 1):
    labels = freeze.freeze_labels(params, frozen_stages)
    for path, label in flax.traverse_util.flatten_dict(labels).items():
      stage = freeze.module_stage(path[0])
      frozen = stage is not None and stage <= frozen_stages
      assert label == (freeze.FROZEN if frozen else freeze.TRAINED), path
  assert freeze.freeze_labels(params, 5)["head"]["projection"]["kernel"] == (
      freeze.TRAINED)


def test_frozen_stages_get_no_update_not_even_weight_decay():
  params = {"slow_stem": {"conv": {"kernel": jnp.ones((2, 2))},
                          "bn": {"scale": jnp.ones(2), "bias": jnp.ones(2)}},
            "slow_res2": {"conv": {"kernel": jnp.ones((2, 2))}},
            "head": {"projection": {"kernel": jnp.ones((2, 2))}}}
  config = train_configs.tiny_train_config()
  config.optim.weight_decay = 0.1
  tx = freeze.freeze_stages(
      optim.make_optimizer(config.optim, lambda step: 1.0, params), params, 1)
  grads = jax.tree.map(jnp.ones_like, params)
  state = tx.init(params)
  for _ in range(2):  # Momentum would carry a first step into the second.
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  frozen, moved = flax.traverse_util.flatten_dict(params), {}
  for path, value in frozen.items():
    moved[path] = bool(jnp.any(value != 1.0))
  assert moved == {p: p[0] != "slow_stem" for p in frozen}


def test_frozen_batch_norm_trains_like_inference_and_keeps_statistics():
  x = jax.random.normal(jax.random.key(0), (4, 2, 3, 3, 5)) * 3 + 1
  variables = {"params": {"scale": jnp.full(5, 2.0), "bias": jnp.ones(5)},
               "batch_stats": {"mean": jnp.full(5, 0.5),
                               "var": jnp.full(5, 4.0)}}
  frozen = norm.BatchNorm(frozen=True)
  y, updates = frozen.apply(variables, x, train=True, mutable=["batch_stats"])
  np.testing.assert_array_equal(y, norm.BatchNorm().apply(variables, x))
  for key in ("mean", "var"):
    np.testing.assert_array_equal(updates["batch_stats"][key],
                                  variables["batch_stats"][key])
  _, updates = norm.BatchNorm().apply(variables, x, train=True,
                                      mutable=["batch_stats"])
  assert not np.array_equal(updates["batch_stats"]["mean"],
                            variables["batch_stats"]["mean"])


def _recipe(**fields):
  """configs/finetune.py's config with every required field set."""
  config = validate.load_config_file(RECIPE)
  config.init_from = str(ROOT)  # Any existing directory.
  config.model.num_classes = 5
  config.data.name = "fake"  # Generated clips: no dataset directory.
  for field, value in fields.items():
    section, _, key = field.rpartition(".")
    (config[section] if section else config)[key] = value
  return config


def test_recipe_with_its_required_fields_is_valid():
  config = _recipe()
  validate.validate_config(config, device_count=1)
  assert config.init_head == "reinit"
  demo_lr = validate.load_config_file(str(ROOT / "configs" / "demo.py"))
  assert config.optim.base_lr < demo_lr.optim.base_lr


@pytest.mark.parametrize("fields, message", [
    ({"init_from": None}, "config.init_from is not set"),
    ({"model.num_classes": None}, "config.model.num_classes=None"),
    ({"data.name": None}, "config.data.name is not set"),
    ({"finetune.frozen_stages": 6}, "config.finetune.frozen_stages=6;"),
    ({"finetune.frozen_stages": -1}, "config.finetune.frozen_stages=-1;"),
    ({"init_from": "", "finetune.frozen_stages": 2},
     "config.finetune.frozen_stages=2 freezes a random initialization"),
    ({"init_from": "", "finetune.frozen_bn": True,
      "precise_bn.enabled": False},
     "config.finetune.frozen_bn=True freezes a random initialization"),
    ({"finetune.frozen_bn": True},
     "config.finetune.frozen_bn=True keeps the checkpoint's BatchNorm "
     "statistics but precise BatchNorm recomputes them"),
])
def test_recipe_errors_name_the_field(fields, message):
  config = _recipe(**fields)
  with pytest.raises(validate.ConfigError, match=message):
    validate.validate_config(config, device_count=1)


def _run(args, timeout=300):
  result = subprocess.run([sys.executable, *args], cwd=ROOT,
                          env=processes.subprocess_env(), capture_output=True,
                          text=True, timeout=timeout)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
  return result


def test_recipe_end_to_end(tmp_path):
  """Class folders -> prepare -> fine-tune (frozen BatchNorm and stages 1-2)
  -> eval.py -> predict, on a tiny model."""
  videos = tmp_path / "videos"
  for split, count in (("train", 4), ("val", 2)):
    for c, name in enumerate(("circle", "square")):
      for i in range(count):
        write_counter_video(str(videos / split / name / f"{i}.mp4"), 30, 1.2,
                            36, 48, seed=10 * c + i)
  data = tmp_path / "data"
  _run(["-m", "slowfast_jax.data.prepare", "--name", "shapes", "--video-dir",
        str(videos), "--split", f"train={videos / 'train'}", "--split",
        f"val={videos / 'val'}", "--data-dir", str(data), "--short-side", "32",
        "--workers", "0", "--no-progress"])

  pretrained = tmp_path / "pretrained"
  _, _, before = eval_configs.save_tiny_checkpoint(pretrained, num_classes=3)
  run = tmp_path / "run"
  _run(["train.py", "--config", RECIPE, "--workdir", str(run),
        f"--config.init_from={pretrained}", f"--config.data.data_dir={data}",
        "--config.data.name=shapes", "--config.model.num_classes=2",
        "--config.finetune.frozen_bn=True", "--config.precise_bn.enabled=False",
        "--config.finetune.frozen_stages=2",
        # Tiny: depth 18 and 8 frames (the pretrained model's; with depth 18
        # every block of a stage keeps its temporal kernel, as at depth 50),
        # 2 steps of 4 clips.
        "--config.model.depth=18", "--config.model.num_frames=8",
        "--config.global_batch_size=4",
        "--config.eval.batch_size=4", "--config.num_epochs=1",
        # 4 views a video: eval.py and predict score batches of the shape
        # training validated with (one compiled program, cached).
        "--config.eval.num_clips=4", "--config.eval.num_crops=1"])
  after, metadata = checkpoint.restore_variables(run)
  assert metadata["class_names"] == ["circle", "square"]
  flat_before = flax.traverse_util.flatten_dict(before["params"])
  flat_after = flax.traverse_util.flatten_dict(after["params"])
  for path, value in flat_after.items():
    stage = freeze.module_stage(path[0])
    if stage is not None and stage <= 2:
      np.testing.assert_array_equal(value, flat_before[path], str(path))
    elif path[0] != "head":  # The head is new (2 classes).
      assert not np.array_equal(value, flat_before[path]), path
  for path, value in flax.traverse_util.flatten_dict(
      after["batch_stats"]).items():
    np.testing.assert_array_equal(
        value, flax.traverse_util.flatten_dict(before["batch_stats"])[path])

  _run(["eval.py", "--checkpoint", str(run)])
  results = json.loads((run / "results.json").read_text())
  assert results["num_videos"] == 4 and 0 <= results["top1"] <= 1
  video = str(videos / "val" / "square" / "0.mp4")
  predicted = _run(["-m", "slowfast_jax.predict", "--checkpoint", str(run),
                    "--json", video])
  record = json.loads(predicted.stdout.splitlines()[-1])
  assert record["video"] == video
  assert {t["class"] for t in record["top"]} == {"circle", "square"}
