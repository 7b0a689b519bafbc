r"""Something-Something v2 videos and annotations -> a prepared dataset.

  python -m slowfast_jax.data.ssv2_prepare \
      --annotation-dir /data/ssv2/labels \
      --video-dir /data/ssv2/20bn-something-something-v2 \
      --data-dir /data/tfds --workers 16

Reads, relative to `--annotation-dir` (the SSv2 label files):
`something-something-v2-labels.json` (`{"Pushing something from left to
right": "93", ...}`: template name -> class index) and one JSON per split,
by default `train=something-something-v2-train.json` and
`val=something-something-v2-validation.json` (the release trains on the
first and validates and tests on the second). Each split file is a list of
`{"id": "78687", "label": "...", "template": "Pushing [something] from left
to right", "placeholders": [...]}`; the video is `--video-dir/ID.webm`, its
class the template with its brackets removed, looked up in the labels file,
as the release's SSv2 loader does. Class i of the dataset is the template
whose index is i.

Videos are decoded as `slowfast_jax.data.prepare` decodes them (its worker
processes, shards and resume; bad or missing videos are skipped and listed
in `skipped_videos.tsv`), at 30 fps (the release's frames: `ffmpeg -r 30`)
and at their own size (the release's frames are not resized; SSv2 videos
are 240 px high). Examples are single-label, as Kinetics'.

The exit status is `prepare`'s: the number of skipped videos (0 when all
were written), 255 when a bad annotation entry or argument stops the job.
"""

import json
import re


from slowfast_jax.data import prepare
from slowfast_jax.data import video_lists

LABELS_FILE = "something-something-v2-labels.json"
DEFAULT_SPLITS = {"train": "something-something-v2-train.json",
                  "val": "something-something-v2-validation.json"}
FPS = 30.0  # The release extracts frames with `ffmpeg -r 30`.
SHORT_SIDE = 0  # Kept as the videos are, as the release's frames.


def _load_json(path, what: str):
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except OSError as e:
    raise prepare.PrepareError(f"{what}: {e}") from e
  except ValueError as e:
    raise prepare.PrepareError(f"{path}: not valid JSON ({e})") from e


def template_key(template: str) -> str:
  """The labels file's key of an annotation's template: its brackets
  removed (`"Pushing [something] from left to right"` -> `"Pushing
  something from left to right"`), as the release's loader does."""
  return template.replace("[", "").replace("]", "")


def read_labels(path) -> list[str]:
  """The template names of a `something-something-v2-labels.json`, by
  class index (`{"name": "0", ...}`: indices 0 to N-1, each once)."""
  labels = _load_json(path, "labels file")
  if not isinstance(labels, dict) or not labels:
    raise prepare.PrepareError(f"{path}: expected a JSON object "
                               "{template: index}")
  names = [None] * len(labels)
  for name, index in labels.items():
    value = int(index) if re.fullmatch(r"\d+", str(index)) else -1
    if not 0 <= value < len(names) or names[value] is not None:
      raise prepare.PrepareError(
          f"{path}: {name!r}: index {index!r} is not a new number from 0 to "
          f"{len(names) - 1}")
    names[value] = name
  return names


def read_annotations(path, class_index: dict[str, int],
                     video_ext: str = ".webm"
                     ) -> list[tuple[video_lists.Entry, int]]:
  """One `(entry, class)` per element of a `something-something-v2-*.json`
  list; the entry's `video_id` is `ID` + `video_ext`, its origin
  `FILE[position]`."""
  annotations = _load_json(path, "annotations")
  if not isinstance(annotations, list) or not annotations:
    raise prepare.PrepareError(f"{path}: expected a non-empty JSON list of "
                               "videos")
  rows = []
  for position, item in enumerate(annotations):
    where = f"{path}[{position}]"
    if not isinstance(item, dict) or not str(item.get("id", "")).strip():
      raise prepare.PrepareError(f"{where}: no video id")
    if "template" not in item:
      raise prepare.PrepareError(
          f"{where}: no template (the test set's file has no labels; "
          "prepare the train and validation files)")
    key = template_key(str(item["template"]))
    if key not in class_index:
      raise prepare.PrepareError(
          f"{where}: template {key!r} is not in the labels file")
    video_id = str(item["id"]).strip() + video_ext
    rows.append((video_lists.Entry(video_id, str(class_index[key]), where),
                 class_index[key]))
  return rows


def prepare_ssv2(*, annotation_dir, video_dir, data_dir, name: str = "ssv2",
                 splits=None, labels_file=None, video_ext: str = ".webm",
                 fps: float = FPS, short_side: int = SHORT_SIDE, **kwargs
                 ) -> prepare.Summary:
  """Prepares (or finishes preparing) SSv2 as dataset `name`.

  Args:
    annotation_dir: folder of the labels file and the split files.
    video_dir: folder of the videos `ID` + `video_ext`.
    data_dir: the dataset goes to `data_dir/name/1.0.0`.
    name: dataset name (`config.data.name`).
    splits: `{split: JSON file}` (relative to `annotation_dir` or absolute);
      default `DEFAULT_SPLITS`.
    labels_file: default `annotation_dir/something-something-v2-labels.json`.
    video_ext: the videos' file extension.
    fps, short_side: stored frame rate and short side (0: as the videos).
    **kwargs: `prepare.prepare_videos` arguments (`workers`, `jpeg_quality`,
      `videos_per_shard`, `overwrite`, `progress`, `process`).

  Raises:
    prepare.PrepareError: before anything is written.
  """
  class_names = read_labels(
      prepare.annotation_file(annotation_dir, labels_file, LABELS_FILE))
  class_index = {n: i for i, n in enumerate(class_names)}
  read = lambda path: read_annotations(path, class_index, video_ext)
  return prepare.prepare_videos(
      resolved=prepare.annotation_splits(annotation_dir,
                                         splits or DEFAULT_SPLITS, read),
      name=name, class_names=class_names, video_dir=video_dir,
      data_dir=data_dir, fps=fps, short_side=short_side, **kwargs)


if __name__ == "__main__":
  prepare.run_annotation_command(
      prepare_ssv2, file_flag="labels", file_arg="labels_file",
      file_help=f"Labels file (default: --annotation-dir/{LABELS_FILE}).",
      name="ssv2", video_ext=".webm", default_splits=DEFAULT_SPLITS, fps=FPS,
      short_side=SHORT_SIDE)
