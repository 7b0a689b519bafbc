"""Config checks that run before anything is compiled or read.

A bad config should fail in a second with one message naming the field, not
after minutes of compilation with an XLA shape error.
"""

import importlib.util
import pathlib

from etils import epath
import ml_collections

from slowfast_jax import config_lib
from slowfast_jax import models
from slowfast_jax import optim as lr_policies
from slowfast_jax.data import sources
from slowfast_jax.training import freeze
from slowfast_jax.training import multigrid

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"
DTYPES = ("float32", "bfloat16")
INIT_HEADS = ("keep", "reinit")
CLIP_SAMPLINGS = config_lib.CLIP_SAMPLINGS


class ConfigError(ValueError):
  """A config field has a value training cannot run with."""


def available_presets() -> list[str]:
  """Names of `configs/*.py` next to the package (source checkouts)."""
  return sorted(p.stem for p in CONFIG_DIR.glob("*.py")
                if not p.stem.startswith("_"))


def presets_hint() -> str:
  return "Presets: " + ", ".join(f"configs/{name}.py"
                                 for name in available_presets())


def check_config_file(path: str) -> None:
  """Fails with the list of presets when `--config` names no file.

  Args:
    path: the `--config` value, possibly with a `:override` suffix.
  """
  file_path = path.split(":", 1)[0]
  if file_path and not pathlib.Path(file_path).is_file():
    raise ConfigError(f"--config={path}: no such config file. "
                      f"{presets_hint()}")


def load_config_file(path: str) -> ml_collections.ConfigDict:
  """`get_config()` of a config file (a checkpoint's preset, the bench)."""
  check_config_file(path)
  spec = importlib.util.spec_from_file_location(
      f"configs.{pathlib.Path(path).stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _require(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def validate_model(model: ml_collections.ConfigDict) -> None:
  """Checks `config.model` (architecture, frames, dtype)."""
  _require(model.arch in models.ARCHS,
           f"config.model.arch={model.arch!r} is not one of {models.ARCHS}.")
  _require(model.depth in config_lib.STAGE_DEPTHS,
           f"config.model.depth={model.depth}; expected one of "
           f"{tuple(config_lib.STAGE_DEPTHS)}.")
  _require(model.num_classes is not None and model.num_classes > 0,
           f"config.model.num_classes={model.num_classes}; set it to the "
           "dataset's class count (--config.model.num_classes=N).")
  _require(model.dtype in DTYPES,
           f"config.model.dtype={model.dtype!r}; expected one of {DTYPES}.")
  if model.arch == "slowfast":
    _require(model.num_frames % model.alpha == 0,
             f"config.model.num_frames={model.num_frames} is not divisible by "
             f"config.model.alpha={model.alpha} (the Slow pathway takes every "
             "alpha-th frame).")
  if "fast" in models.pathway_names(model.arch):
    _require(model.width_per_group % model.beta_inv == 0,
             f"config.model.width_per_group={model.width_per_group} is not "
             f"divisible by config.model.beta_inv={model.beta_inv} (the Fast "
             "pathway's width).")
  _require(model.train_crop_size >= 32,
           f"config.model.train_crop_size={model.train_crop_size}; the "
           "network downsamples 32x, so it must be at least 32.")
  _require(model.bn_group_size >= 0,
           f"config.model.bn_group_size={model.bn_group_size} must be >= 0.")


def validate_batch(config: ml_collections.ConfigDict, *,
                   device_count: int) -> None:
  """Checks the global batch against the devices and BatchNorm groups.

  Every host has the same number of devices, so a batch the devices share
  evenly the hosts share evenly too.
  """
  batch = config.global_batch_size
  _require(batch > 0, f"config.global_batch_size={batch} must be positive.")
  _require(batch % device_count == 0,
           f"config.global_batch_size={batch} is not divisible by the "
           f"{device_count} devices (every device takes an equal share).")
  _check_bn_groups(batch, config.model.bn_group_size, device_count,
                   "config.model.bn_group_size", "config.global_batch_size")
  eval_batch = config.eval.batch_size
  _require(eval_batch > 0 and eval_batch % device_count == 0,
           f"config.eval.batch_size={eval_batch} is not a positive multiple "
           f"of the {device_count} devices.")


def _check_bn_groups(batch: int, group: int, device_count: int,
                     group_name: str, batch_name: str) -> None:
  """BatchNorm groups of `group` clips must tile the batch and the devices."""
  per_device = batch // device_count
  if 0 < group < batch:
    _require(batch % group == 0,
             f"{group_name}={group} does not divide {batch_name}={batch}.")
    # Groups must not straddle devices unevenly: each device holds whole
    # groups, or each group spans whole devices.
    _require(per_device % group == 0 or group % per_device == 0,
             f"{group_name}={group} does not align with the "
             f"{per_device} clips per device (global batch {batch} over "
             f"{device_count} devices); use a divisor or a multiple of "
             f"{per_device}.")


def validate_data(config: ml_collections.ConfigDict) -> None:
  """Checks crops and that the dataset exists (after the demo's generation)."""
  data = config.data
  _require(bool(data.name),
           "config.data.name is not set; pass --config.data.name=NAME, the "
           "--name the dataset was prepared with.")
  _require(data.train_crop_size == config.model.train_crop_size,
           f"config.data.train_crop_size={data.train_crop_size} differs from "
           f"config.model.train_crop_size={config.model.train_crop_size}.")
  sampling = data.get("clip_sampling", "kinetics")
  _require(sampling in CLIP_SAMPLINGS,
           f"config.data.clip_sampling={sampling!r}; expected one of "
           f"{CLIP_SAMPLINGS}.")
  _require(data.get("single_test_crop", "center") in ("center", "first"),
           f"config.data.single_test_crop="
           f"{data.get('single_test_crop')!r}; expected 'center' or 'first'.")
  _require(not data.get("label_aware_flip", False) or (
      data.random_flip and not data.get("multi_label", False)),
           "config.data.label_aware_flip=True swaps the class of flipped "
           "clips: it needs --config.data.random_flip=True and single-label "
           "data (config.data.multi_label=False).")
  _require(not (data.get("label_aware_flip", False) and
               config.model.detection),
           "config.data.label_aware_flip=True is for clip classification: "
           "the AVA pipeline of a detection model (config.model.detection) "
           "flips pixels and boxes only, and no AVA action names a side.")
  _require(not (data.get("multi_label", False) and config.model.detection),
           "config.data.multi_label=True is for clip classification "
           "(Charades); a detection model (config.model.detection) has "
           "multi-hot labels per box already.")
  if data.name in sources.SOURCES:  # No files (e.g. fake data).
    return
  _require(bool(data.data_dir),
           f"config.data.data_dir is not set (dataset {data.name!r}); point "
           "it at the directory `python -m slowfast_jax.data.prepare` wrote "
           "(--config.data.data_dir=DIR).")
  dataset_dir = epath.Path(data.data_dir) / data.name
  _require(dataset_dir.exists(),
           f"config.data.data_dir={data.data_dir}: dataset "
           f"{data.name!r} not found ({dataset_dir} does not exist); prepare "
           "it with `python -m slowfast_jax.data.prepare` or fix "
           "config.data.name / config.data.data_dir.")
  if not config.model.detection:  # AVA datasets have a layout of their own.
    from slowfast_jax.data import builder  # pylint: disable=g-import-not-at-top
    problem = builder.layout_problem(
        builder.version_dir(data.data_dir, data.name))
    _require(problem is None, problem)


def validate_eval_data(config: ml_collections.ConfigDict) -> None:
  """Checks that the dataset to test exists (fake data has no videos)."""
  _require(config.data.name not in sources.SOURCES,
           f"config.data.name={config.data.name!r} (generated clips for "
           "training tests) has no videos to test; pass --config.data.name=NAME "
           "--config.data.data_dir=DIR of a prepared dataset.")
  validate_data(config)


def validate_schedule(config: ml_collections.ConfigDict) -> None:
  """Checks epochs, warmup, LR batch base, cadences and precise BN."""
  optim = config.optim
  rules = [
      (config.num_epochs > 0,
       f"config.num_epochs={config.num_epochs} must be positive."),
      (0 <= optim.warmup_epochs <= config.num_epochs,
       f"config.optim.warmup_epochs={optim.warmup_epochs} must be in "
       f"[0, config.num_epochs={config.num_epochs}]."),
      (optim.base_batch_size > 0,
       f"config.optim.base_batch_size={optim.base_batch_size} must be "
       "positive."),
      (config.checkpoint_every_steps >= 0,
       f"config.checkpoint_every_steps={config.checkpoint_every_steps} must "
       "be >= 0 (0: only at the end)."),
      (config.keep_checkpoints >= 1,
       f"config.keep_checkpoints={config.keep_checkpoints} must be >= 1."),
      (config.log_every_steps >= 1,
       f"config.log_every_steps={config.log_every_steps} must be >= 1."),
  ]
  policy = optim.get("lr_policy", "cosine")
  rules.append((policy in lr_policies.LR_POLICIES,
                f"config.optim.lr_policy={policy!r}; expected one of "
                f"{tuple(lr_policies.LR_POLICIES)}."))
  if policy == "steps_with_relative_lrs":
    # Rates beyond the steps are unused, as in the release (its Charades
    # configs list 6 rates for 3 steps).
    rules.append((len(optim.lrs) >= len(optim.steps) >= 1 and
                  optim.steps[0] == 0 and list(optim.steps) == sorted(
                      optim.steps),
                  f"config.optim.steps={list(optim.steps)} and "
                  f"config.optim.lrs={list(optim.lrs)}: at least one relative "
                  "rate per step, steps increasing from 0."))
  if config_lib.uses_precise_bn(config):
    num_batches = config.precise_bn.num_batches
    rules.append((num_batches >= 1,
                  f"config.precise_bn.num_batches={num_batches} must "
                  "be >= 1 (or set config.precise_bn.enabled=False)."))
  for condition, message in rules:
    _require(condition, message)


def validate_init(config: ml_collections.ConfigDict) -> None:
  """Checks `init_from`, `init_head` and the `finetune` freeze options."""
  _require(config.init_from is not None,
           "config.init_from is not set: fine-tuning starts from a checkpoint; "
           "pass --config.init_from=DIR (a train.py --workdir or a converted "
           "checkpoint), or --config.init_from= to train from scratch.")
  _require(config.init_head in INIT_HEADS,
           f"config.init_head={config.init_head!r}; expected one of "
           f"{INIT_HEADS}.")
  if config.init_from:
    _require(epath.Path(config.init_from).exists(),
             f"config.init_from={config.init_from}: no such checkpoint "
             "directory.")
  finetune = config.finetune
  stages = finetune.frozen_stages
  _require(0 <= stages <= freeze.MAX_FROZEN_STAGES,
           f"config.finetune.frozen_stages={stages}; expected 0 (none) to "
           f"{freeze.MAX_FROZEN_STAGES} (every stage but the head).")
  for field in ("frozen_stages", "frozen_bn"):
    _require(not finetune[field] or bool(config.init_from),
             f"config.finetune.{field}={finetune[field]} freezes a random "
             "initialization; set config.init_from=DIR or turn it off.")
  _require(not (finetune.frozen_bn and config_lib.uses_precise_bn(config)),
           "config.finetune.frozen_bn=True keeps the checkpoint's BatchNorm "
           "statistics but precise BatchNorm recomputes them; set "
           "config.precise_bn.enabled=False.")


def validate_multigrid(config: ml_collections.ConfigDict, *,
                       device_count: int) -> None:
  """Checks the multigrid schedule's fields and every phase's batch."""
  if not multigrid.enabled(config):
    return
  _require(not config.model.detection,
           "config.multigrid: the multigrid schedule is for clip "
           "classification; turn config.multigrid.short_cycle and "
           "long_cycle off for a detection model.")
  try:
    multigrid.check_config(config)
  except multigrid.MultigridError as e:
    raise ConfigError(str(e)) from None
  for phase in multigrid.all_phases(config):
    _check_bn_groups(
        phase.batch_size, phase.bn_group_size, device_count,
        "the multigrid phase's BatchNorm group (config.multigrid."
        "bn_base_size, or config.model.bn_group_size without the long "
        "cycle, times the short cycle's batch factor)",
        f"its batch ({phase.num_frames} frames, {phase.crop_size} px)")


def validate_config(config: ml_collections.ConfigDict, *,
                    device_count: int, data: bool = True) -> None:
  """All checks; raises `ConfigError` naming the first bad field.

  `data=False` leaves out the data checks (`validate_data`), which need the
  dataset on disk: train.py runs the others before generating the demo's.
  """
  validate_model(config.model)
  validate_batch(config, device_count=device_count)
  if data:
    validate_data(config)
  validate_schedule(config)
  validate_init(config)
  validate_multigrid(config, device_count=device_count)


def validate_ava_dataset(config: ml_collections.ConfigDict, metadata: dict,
                         split: str) -> None:
  """Checks a prepared AVA dataset (its `metadata`) against the config.

  The clip must fit the stored window around each keyframe, the boxes must
  be the ones the config selects, and padding must not drop boxes.
  """
  data = config.data
  _require(split in metadata.get("max_boxes", {}),
           f"AVA dataset {data.name!r} has no split {split!r} (prepared: "
           f"{sorted(metadata.get('max_boxes', {}))}).")
  span = config.model.num_frames * data.sampling_rate
  _require(span <= metadata["window"],
           f"config.model.num_frames * config.data.sampling_rate = {span} "
           f"frames, more than the {metadata['window']} frames "
           f"{data.name!r} stores per keyframe; prepare with --window={span}.")
  _require(abs(metadata["score_threshold"] - data.detection_score_thresh)
           < 1e-9,
           f"config.data.detection_score_thresh={data.detection_score_thresh} "
           f"but {data.name!r} was prepared with "
           f"{metadata['score_threshold']}; prepare it again.")
  _require(tuple(metadata["seconds"]) == tuple(data.keyframe_seconds),
           f"config.data.keyframe_seconds={tuple(data.keyframe_seconds)} but "
           f"{data.name!r} was prepared with {tuple(metadata['seconds'])}.")
  # Imported here: validate is imported by code that never reads AVA.
  from slowfast_jax.data import ava_annotations  # pylint: disable=g-import-not-at-top
  files = [f.path for f in ava_annotations.split_box_files(data, split, "")]
  _require(metadata["box_files"].get(split) == files,
           f"config.data box lists for {split!r} ({files}) differ from the "
           f"files {data.name!r} was prepared from "
           f"({metadata['box_files'].get(split)}).")
  most = metadata["max_boxes"][split]
  _require(data.max_boxes == 0 or data.max_boxes >= most,
           f"config.data.max_boxes={data.max_boxes} is less than the {most} "
           f"boxes of a {split!r} keyframe; use 0 (the split's maximum).")
