"""Class names for reports and predictions.

Sources, first match wins: a `--labels` file, the checkpoint's metadata
(`class_names`, written by training and by the converter when it knows them),
the dataset's names, and for 400-class models the Kinetics-400 names that ship
with the package (the release's model-zoo checkpoints are Kinetics-400, in the
standard alphabetical class order).
"""

import json
from typing import Any, Mapping, Sequence

from etils import epath
import numpy as np

from slowfast_jax.evaluation import ava_metrics

KINETICS400_FILE = "kinetics400_classes.txt"


def kinetics400() -> list[str]:
  """The 400 Kinetics class names, index order of the release's labels."""
  return read_labels_file(
      epath.resource_path("slowfast_jax") / "assets" / KINETICS400_FILE)


def read_labels_file(path: epath.PathLike) -> list[str]:
  """Names in class order from a text file (one per line) or JSON.

  The one reader of class-name files (`--labels`, `--class-names`,
  `--classes`). Blank lines are skipped. JSON may be a list of names or a
  `{name: index}` map (pytorchvideo's `kinetics_classnames.json` style). An
  AVA label map (`.pbtxt`) gives action id i's name to class i - 1 (the
  release's columns); ids it lacks are named `action ID`.
  Raises `FileNotFoundError`, or `ValueError` for duplicate names.
  """
  path = epath.Path(path)
  if not path.exists():
    raise FileNotFoundError(f"Class names file {path} does not exist.")
  names = _parse(path, path.read_bytes().decode("utf-8-sig"))  # BOM or not.
  if len(set(names)) != len(names):
    raise ValueError(f"{path}: duplicate class names.")
  return names


def _parse(path: epath.Path, text: str) -> list[str]:
  if path.suffix == ".pbtxt":
    by_id = ava_metrics.parse_label_map(text.splitlines(), path)
    return [by_id.get(i, f"action {i}") for i in range(1, max(by_id) + 1)]
  if path.suffix == ".json":
    data = json.loads(text)
    if isinstance(data, dict):
      by_index = {int(i): str(name) for name, i in data.items()}
      if sorted(by_index) != list(range(len(by_index))):
        raise ValueError(f"{path}: the class indices are not 0..{len(data)-1}.")
      return [by_index[i] for i in range(len(by_index))]
    return [str(name) for name in data]
  return [line.strip() for line in text.splitlines() if line.strip()]


def resolve(num_classes: int, *, labels_file: epath.PathLike | None = None,
            metadata: Mapping[str, Any] | None = None,
            dataset_names: Sequence[str] | None = None) -> list[str]:
  """`num_classes` names from the first source that has them (see above).

  Raises if `labels_file` is given but has the wrong count; falls back to
  `class 0`, `class 1`, ... when nothing else fits.
  """
  if labels_file:
    names = read_labels_file(labels_file)
    if len(names) != num_classes:
      raise ValueError(f"--labels {labels_file} has {len(names)} names; the "
                       f"model has {num_classes} classes.")
    return names
  for names in ((metadata or {}).get("class_names"), dataset_names):
    if names and len(names) == num_classes:
      return [str(n) for n in names]
  if num_classes == 400:
    return kinetics400()
  return [f"class {i}" for i in range(num_classes)]


def top_k(scores: np.ndarray, names: Sequence[str], k: int
          ) -> list[tuple[str, float]]:
  """The k best `(name, score)` of `(classes,)` scores, best first."""
  order = np.argsort(-scores, kind="stable")[:k]
  return [(names[i], float(scores[i])) for i in order]
