"""The config that goes with a checkpoint: the stored one against the asked one.

Training stores the model config and the whole config in every step's
metadata; the converter stores the model config and the preset file it was
converted with. Before anything is read or written, the commands compare them
with the config they were given:

- `check_resume`: `train.py` on a work directory that holds another model's
  checkpoints stops with the fields that differ, and writes nothing.
- `restore_for_inference`: `eval.py` and `predict` use the stored config;
  `--config FILE` replaces it and must describe the same model, and
  `--config.FIELD=VALUE` alone overrides single fields of the stored config.

Every problem is a `checkpoint.CheckpointError` with a one-line message.
"""

import json
from typing import Any, Mapping

from absl import flags
from etils import epath
import ml_collections
from ml_collections import config_flags

from slowfast_jax import checkpoint
from slowfast_jax import validate

# Model fields that change neither the variables nor what they compute at
# test time (training recipe, numerics): they may differ from the stored ones.
FREE_MODEL_FIELDS = frozenset({"dropout_rate", "bn_momentum", "bn_group_size",
                               "conv_impl", "dtype"})
_LISTED = 4  # Differences named in a message.
_VALUE_CHARS = 24  # Longer values (nested lists) are cut in messages.


def _plain(value: Any) -> Any:
  """As JSON stores it (tuples become lists)."""
  return json.loads(json.dumps(value))


def _short(value: Any) -> str:
  text = repr(value)
  return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS - 4] + " ..."


def model_differences(stored: Mapping[str, Any],
                      model: ml_collections.ConfigDict) -> list[str]:
  """`model.FIELD: checkpoint X, config Y` for each field that differs.

  Fields only one side has (added or removed since the checkpoint was
  written) and `FREE_MODEL_FIELDS` are not compared; `arch` comes first.
  """
  stored, requested = _plain(dict(stored)), _plain(model.to_dict())
  fields = sorted(stored.keys() & requested.keys() - FREE_MODEL_FIELDS,
                  key=lambda k: (k != "arch", k))
  return [f"model.{k}: checkpoint {_short(stored[k])}, config "
          f"{_short(requested[k])}"
          for k in fields if stored[k] != requested[k]]


def _listing(differences: list[str]) -> str:
  more = len(differences) - _LISTED
  return "; ".join(differences[:_LISTED]) + (f"; and {more} more" if more > 0
                                             else "")


def check_resume(workdir: epath.PathLike,
                 config: ml_collections.ConfigDict) -> None:
  """Fails if `workdir`'s latest checkpoint holds another model than `config`.

  Raises:
    checkpoint.CheckpointError: naming the differing fields and the fix.
  """
  directory = epath.Path(workdir) / checkpoint.WORKDIR_SUBDIR
  steps = checkpoint.all_steps(directory)
  if not steps:
    return
  stored = checkpoint.read_metadata(directory, steps[-1]).get("model")
  differences = model_differences(stored, config.model) if stored else []
  if differences:
    raise checkpoint.CheckpointError(
        f"--workdir {workdir} holds a run of another model (step {steps[-1]}: "
        f"{_listing(differences)}); resume it with the config it was trained "
        "with, or train this config in another --workdir.")


def _preset(config_file: str, name: str) -> ml_collections.ConfigDict:
  """The preset a checkpoint was converted with, here or in `configs/`."""
  path = epath.Path(config_file.split(":", 1)[0])
  for candidate in (path, epath.Path(validate.CONFIG_DIR) / path.name):
    if candidate.is_file():
      return validate.load_config_file(str(candidate))
  raise checkpoint.CheckpointError(
      f"{name} was converted with --config {config_file}, which is not found; "
      "pass --config with that preset (configs/NAME.py).")


def stored_config(metadata: Mapping[str, Any],
                  name: str) -> ml_collections.ConfigDict:
  """The full config of a checkpoint: trained with, or converted with.

  A converted checkpoint stores its model and preset: the preset's other
  sections (data, eval) are used with the stored model.
  """
  if "config" in metadata:
    config = ml_collections.ConfigDict(metadata["config"])
  elif metadata.get("config_file") and "model" in metadata:
    config = _preset(metadata["config_file"], name)
  else:
    raise checkpoint.CheckpointError(
        f"{name} stores no config (saved without metadata); pass --config "
        "configs/NAME.py of the model it holds.")
  if "model" in metadata:
    config.model.update(metadata["model"])
  return config


def inference_config(metadata: Mapping[str, Any], name: str, *,
                     given: ml_collections.ConfigDict | None = None,
                     given_file: str = "",
                     overrides: Mapping[str, Any] | None = None
                     ) -> ml_collections.ConfigDict:
  """The config to evaluate a checkpoint with.

  Args:
    metadata: the checkpoint's metadata.
    name: the checkpoint's path, for messages.
    given: a `--config` file's config (with its overrides), or None.
    given_file: that file's name, for messages.
    overrides: `{"section.field": value}` applied to the stored config when
      no config is given.

  Raises:
    checkpoint.CheckpointError: `given` describes another model than the
      stored one, or nothing is stored and nothing given.
  """
  if given is None:
    config = stored_config(metadata, name)
    config.update_from_flattened_dict(dict(overrides or {}))
    return config
  differences = (model_differences(metadata["model"], given.model)
                 if metadata.get("model") else [])
  if differences:
    raise checkpoint.CheckpointError(
        f"--config {given_file} does not fit the checkpoint {name} "
        f"({_listing(differences)}); leave out --config to use the "
        "checkpoint's own config, or pass the config it was trained with.")
  return given


def restore_for_inference(path: str, config_flag: flags.Flag,
                          step: int | None = None
                          ) -> tuple[ml_collections.ConfigDict, dict[str, Any],
                                     dict[str, Any]]:
  """`(config, variables, metadata)` of a checkpoint for `eval.py`/`predict`.

  Args:
    path: `--checkpoint`: a checkpoint directory or a train.py work directory.
    config_flag: the `--config` flag (`flags.FLAGS["config"]`), given or not.
    step: the step to read (default: the latest).

  Raises:
    checkpoint.CheckpointError: see `inference_config` and
      `checkpoint.restore_variables`; the config is checked before any array
      is read.
  """
  directory, step = checkpoint.find_step(path, step)
  metadata = checkpoint.read_metadata(directory, step)
  config = inference_config(
      metadata, f"{directory}/{step}",
      given=config_flag.value if config_flag.present else None,
      given_file=config_flags.get_config_filename(config_flag),
      overrides=config_flags.get_override_values(config_flag))
  variables, _ = checkpoint.restore_variables(directory, step=step)
  return config, variables, metadata
