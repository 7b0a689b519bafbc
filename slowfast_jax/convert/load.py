"""Converting a release checkpoint file into the Flax model's variables.

Every source tensor must be consumed and every Flax variable filled; anything
else raises `CheckpointMismatchError` listing missing, unexpected and
shape-mismatched names (in PySlowFast terms, with the source's own name where it
differs). The only tensors left out on purpose are reported: Caffe2 optimizer
blobs (`*momentum*`, `lr`, `model_iter`), torch's `num_batches_tracked`, and the
old classifier when `head='reinit'`.
"""

import dataclasses
from typing import Any

from etils import epath
import flax
import jax
import ml_collections
import numpy as np

from slowfast_jax.convert import formats
from slowfast_jax.convert import names
from slowfast_jax.convert import target

PYSLOWFAST = "pyslowfast"
PYTORCHVIDEO = "pytorchvideo"
CAFFE2 = "caffe2"
HEAD_NAMES = ("head.projection.weight", "head.projection.bias")
_WRAPPER_PREFIXES = ("module.", "model.")  # DDP; PySlowFast's PTVSlowFast wrapper.
_MAX_LISTED = 30  # Names listed per category in an error message.


class CheckpointMismatchError(ValueError):
  """The checkpoint's tensors do not fit the configured model."""


@dataclasses.dataclass
class ConversionReport:
  """What a conversion read, used and left out."""
  path: str
  file_format: str                 # formats.TORCH_ZIP, ...
  naming: str                      # PYSLOWFAST, PYTORCHVIDEO or CAFFE2
  container_key: str               # "model_state", "blobs", "" ...
  stripped_prefix: str = ""
  num_tensors: int = 0             # Flax variables filled from the file.
  num_params: int = 0              # Values in 'params' (all, incl. a new head).
  num_batch_stats: int = 0         # Values in 'batch_stats'.
  ignored: list[str] = dataclasses.field(default_factory=list)  # Not weights.
  dropped_head: list[str] = dataclasses.field(default_factory=list)
  num_dropped_buffers: int = 0     # num_batches_tracked
  head: str = "converted"
  source_cfg: str | None = None    # The `.pyth`'s YAML config, if present.

  def summary(self) -> str:
    lines = [
        f"Read {self.path}",
        f"  format: {self.file_format} ({self.naming} names"
        + (f", under '{self.container_key}'" if self.container_key else "")
        + (f", prefix '{self.stripped_prefix}' stripped" if self.stripped_prefix else "")
        + ")",
        f"  converted: {self.num_tensors} tensors; model has "
        f"{self.num_params:,} parameters, {self.num_batch_stats:,} BN statistics",
        f"  head: {self.head}",
    ]
    if self.ignored:
      lines.append(f"  ignored (not weights): {len(self.ignored)}: "
                   + ", ".join(self.ignored))
    if self.dropped_head:
      lines.append("  dropped (old classifier): " + ", ".join(self.dropped_head))
    if self.num_dropped_buffers:
      lines.append(f"  skipped: {self.num_dropped_buffers} num_batches_tracked "
                   "buffers (the Flax BatchNorm has none)")
    return "\n".join(lines)


def _strip_wrapper_prefixes(tensors: dict[str, np.ndarray]
                            ) -> tuple[dict[str, np.ndarray], str]:
  """Removes `module.` / `model.` when every name carries it."""
  stripped = ""
  while tensors:
    prefix = next((p for p in _WRAPPER_PREFIXES
                   if all(n.startswith(p) for n in tensors)), None)
    if prefix is None:
      break
    tensors = {n[len(prefix):]: v for n, v in tensors.items()}
    stripped += prefix
  return tensors, stripped


def canonical_tensors(source: formats.SourceTensors, report: ConversionReport
                      ) -> dict[str, tuple[str, np.ndarray]]:
  """PySlowFast name → (name in the file, tensor); fills `report`'s naming fields.

  Raises:
    CheckpointMismatchError: two source tensors map to the same name.
  """
  tensors = dict(source.tensors)
  if source.is_caffe2:
    report.naming = CAFFE2
    report.ignored = sorted(n for n in tensors if names.is_caffe2_non_weight(n))
    renames = {n: names.caffe2_to_pyslowfast(n) for n in tensors
               if not names.is_caffe2_non_weight(n)}
  else:
    tensors, report.stripped_prefix = _strip_wrapper_prefixes(tensors)
    dropped = [n for n in tensors if names.is_dropped_buffer(n)]
    report.num_dropped_buffers = len(dropped)
    kept = [n for n in tensors if not names.is_dropped_buffer(n)]
    if names.looks_like_pytorchvideo(kept):
      report.naming = PYTORCHVIDEO
      renames = names.pytorchvideo_to_pyslowfast(kept)
    else:
      report.naming = PYSLOWFAST
      renames = {n: n for n in kept}
  canonical, sources_of = {}, {}
  for source_name, name in renames.items():
    sources_of.setdefault(name, []).append(source_name)
    canonical[name] = (report.stripped_prefix + source_name, tensors[source_name])
  duplicates = {n: s for n, s in sources_of.items() if len(s) > 1}
  if duplicates:
    raise CheckpointMismatchError(
        f"{source.file_format} {report.path}: several tensors map to the same "
        "name: " + "; ".join(f"{n} ← {s}" for n, s in sorted(duplicates.items())))
  return canonical


def _squeeze_trailing_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
  while shape and shape[-1] == 1:
    shape = shape[:-1]
  return shape


def _fits(array: np.ndarray, expected: tuple[int, ...], naming: str) -> bool:
  if array.shape == expected:
    return True
  # Caffe2 blobs may carry or lack trailing 1-dims (the release pads them).
  return naming == CAFFE2 and (_squeeze_trailing_ones(array.shape)
                               == _squeeze_trailing_ones(expected))


def _listing(title: str, items: list[str]) -> str:
  if not items:
    return ""
  shown = items[:_MAX_LISTED]
  more = f"\n    ... and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
  return f"\n  {title} ({len(items)}):\n    " + "\n    ".join(shown) + more


def _label(name: str, source_name: str) -> str:
  return name if name == source_name else f"{name} (file: {source_name})"


def _init_head(targets: dict[str, target.TargetVariable],
               rng: jax.Array) -> dict[str, np.ndarray]:
  """A fresh classifier as the model initializes it: N(0, 0.01²) kernel, zero bias."""
  kernel = targets["head.projection.weight"]
  bias = targets["head.projection.bias"]
  return {
      "head.projection.weight": 0.01 * np.asarray(
          jax.random.normal(rng, kernel.shape, kernel.dtype)),
      "head.projection.bias": np.zeros(bias.shape, bias.dtype),
  }


def convert_checkpoint(
    path: str | epath.Path,
    model_config: ml_collections.ConfigDict,
    **kwargs,
) -> tuple[dict[str, Any], ConversionReport]:
  """Reads a release checkpoint file into Flax variables, with a report.

  Args:
    path: PySlowFast `.pyth`, Caffe2 `.pkl`, or pytorchvideo state dict; the
      format is detected from the content, and nothing in the file is run.
    model_config: `config.model` of the preset the checkpoint was trained with.
    **kwargs: `num_classes`, `head`, `rng`; see `convert_tensors`.

  Returns:
    (`{'params': ..., 'batch_stats': ...}` of numpy arrays, report).
  """
  return convert_tensors(formats.read_tensors(path), model_config, **kwargs)


def _fitted_values(source, model_config, report, canonical, targets, *,
                   already) -> dict[str, np.ndarray]:
  """The checkpoint's tensors in the Flax layout of `targets`.

  Raises `CheckpointMismatchError` listing every missing, unexpected and
  mismatched tensor (`already` holds the targets filled otherwise).
  """
  missing = sorted(n for n in targets if n not in canonical and n not in already)
  unexpected = sorted(_label(n, s) for n, (s, _) in canonical.items()
                      if n not in targets)
  mismatched, values = [], {}
  for name, (source_name, array) in sorted(canonical.items()):
    if name not in targets:
      continue
    expected = targets[name]
    if not _fits(array, expected.torch_shape, report.naming):
      mismatched.append(f"{_label(name, source_name)}: checkpoint "
                        f"{tuple(array.shape)}, model {expected.torch_shape}")
      continue
    array = array.reshape(expected.torch_shape).astype(expected.dtype)
    values[name] = target.to_flax_layout(array, expected.layout)
  if missing or unexpected or mismatched:
    raise CheckpointMismatchError(
        f"{source.path} ({source.file_format}, {report.naming} names) does not "
        f"fit the model (arch={model_config.arch}, depth={model_config.depth}, "
        f"num_classes={model_config.num_classes}); is the config the one the "
        "checkpoint was trained with?"
        + _listing("missing from the checkpoint", missing)
        + _listing("unexpected in the checkpoint", unexpected)
        + _listing("shape mismatch (torch layout)", mismatched))
  return values


def convert_tensors(
    source: formats.SourceTensors,
    model_config: ml_collections.ConfigDict,
    *,
    num_classes: int | None = None,
    head: str = "keep",
    rng: jax.Array | None = None,
) -> tuple[dict[str, Any], ConversionReport]:
  """Maps the tensors of a read checkpoint onto the model's variables.

  Args:
    source: what `formats.read_tensors` read.
    model_config: `config.model` of the preset the checkpoint was trained with.
    num_classes: build the classifier with this many classes instead of
      `model_config.num_classes` (e.g. 600 for a Kinetics-600 checkpoint).
    head: "keep" converts the checkpoint's classifier, whose class count must
      then equal the model's; "reinit" drops it and initializes a new one
      (fine-tuning on other classes).
    rng: key for the new classifier with `head="reinit"` (default key 0).

  Returns:
    (`{'params': ..., 'batch_stats': ...}` of numpy arrays, report).

  Raises:
    CheckpointMismatchError: tensors missing, unexpected or of the wrong shape,
      or a class count that differs without `num_classes`/`head="reinit"`.
  """
  if head not in ("keep", "reinit"):
    raise ValueError(f"head={head!r}; expected 'keep' or 'reinit'.")
  if num_classes is not None:
    model_config = ml_collections.ConfigDict(model_config.to_dict())
    model_config.num_classes = num_classes
  report = ConversionReport(str(source.path), source.file_format, "", source.container_key)
  if isinstance(source.extras.get("cfg"), str):
    report.source_cfg = source.extras["cfg"]
  canonical = canonical_tensors(source, report)
  targets = target.target_variables(model_config)

  values: dict[str, np.ndarray] = {}
  if head == "reinit":
    for name in HEAD_NAMES:
      if name in canonical:
        report.dropped_head.append(canonical.pop(name)[0])
    values.update(_init_head(targets, rng if rng is not None else jax.random.key(0)))
    report.head = (f"new classifier with {model_config.num_classes} classes "
                   "(checkpoint's classifier dropped)")
  else:
    _check_class_count(canonical, targets, model_config.num_classes)
    report.head = f"converted, {model_config.num_classes} classes"

  values.update(_fitted_values(source, model_config, report, canonical,
                               targets, already=values))

  flat = {(t.collection, *t.path): values[n] for n, t in targets.items()}
  report.num_tensors = len(flat) - (len(HEAD_NAMES) if head == "reinit" else 0)
  report.num_params = sum(v.size for k, v in flat.items() if k[0] == "params")
  report.num_batch_stats = sum(
      v.size for k, v in flat.items() if k[0] == "batch_stats")
  return flax.traverse_util.unflatten_dict(flat), report


def _check_class_count(canonical: dict[str, tuple[str, np.ndarray]],
                       targets: dict[str, target.TargetVariable],
                       num_classes: int) -> None:
  """A clear error for the commonest mismatch: another class count."""
  bias = canonical.get("head.projection.bias")
  if bias is None or "head.projection.bias" not in targets:
    return
  source_classes = bias[1].shape[0]
  if source_classes != num_classes:
    raise CheckpointMismatchError(
        f"The checkpoint's classifier has {source_classes} classes but the "
        f"model has num_classes={num_classes}. To keep the checkpoint's "
        f"classifier, build the model with {source_classes} classes "
        f"(num_classes={source_classes}, CLI --num-classes {source_classes}); "
        "to fine-tune on other classes, drop it and start a new one "
        "(head='reinit', CLI --new-head).")


def load_torch_checkpoint(path: str | epath.Path,
                          model_config: ml_collections.ConfigDict,
                          **kwargs) -> dict[str, Any]:
  """The Flax variables `{'params', 'batch_stats'}` of a release checkpoint.

  See `convert_checkpoint` for the arguments (`num_classes`, `head`, `rng`).
  """
  variables, _ = convert_checkpoint(path, model_config, **kwargs)
  return variables
