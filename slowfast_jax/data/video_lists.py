"""Reading split lists (`path label` lines) and class-folder layouts.

List format, as the release's `{train,val,test}.csv`: one video per line,
`relative/path.mp4 label`, separated by spaces or by a comma (use commas when
class names contain spaces; quoting follows CSV). The label is an integer or a
class name. The release's three-field form `path num_frames label` is
accepted (the middle field must be an integer and is ignored). An optional
header line is recognised by its column names (`path,label`, `video label`,
...). Blank lines and lines starting with `#` are skipped.

Every line problem raises `ListError` naming the file and line.
"""

import csv
import dataclasses
import os
import re

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg",
                    ".mpeg", ".flv", ".3gp", ".ogv", ".wmv")
_HEADER_PATHS = {"path", "video", "video_path", "filename", "file", "name",
                 "video_id", "youtube_id", "clip"}
_HEADER_LABELS = {"label", "labels", "class", "class_name", "category",
                  "label_name", "action"}
_INT = re.compile(r"^[+-]?\d+$")


class ListError(ValueError):
  """A bad line in a split list."""


@dataclasses.dataclass(frozen=True)
class Entry:
  """One video of a split.

  Attributes:
    video_id: path as written in the list (relative to the video dir); stored
      in the dataset as `video_id`.
    label: class name or integer label as written (str).
    origin: where it came from, `file:line` or the file's path.
  """
  video_id: str
  label: str
  origin: str


def _fields(line: str) -> list[str]:
  if "," in line:
    return [f.strip() for f in next(csv.reader([line]))]
  return line.split()


def read_list(path) -> list[Entry]:
  """Parses a split list into entries (labels still as written)."""
  path = os.fspath(path)
  entries = []
  with open(path, encoding="utf-8-sig") as f:
    lines = f.read().splitlines()
  first_content = True
  for number, raw in enumerate(lines, start=1):
    line = raw.strip()
    if not line or line.startswith("#"):
      continue
    where = f"{path}:{number}"
    fields = _fields(line)
    if first_content:
      first_content = False
      if (fields[0].lower() in _HEADER_PATHS or
          (len(fields) > 1 and fields[-1].lower() in _HEADER_LABELS)):
        continue  # Header line.
    if len(fields) == 2:
      video, label = fields
    elif len(fields) == 3 and _INT.match(fields[1]):
      video, _, label = fields  # Release form: path num_frames label.
    elif len(fields) < 2:
      raise ListError(f"{where}: missing column: expected `path label`, got "
                      f"{raw!r}")
    else:
      raise ListError(
          f"{where}: expected `path label` (or `path num_frames label`), got "
          f"{len(fields)} fields in {raw!r}; separate with a comma if the "
          "class name contains spaces")
    if not video or not label:
      raise ListError(f"{where}: empty path or label in {raw!r}")
    entries.append(Entry(video, label, where))
  return entries


def scan_class_folders(folder, video_dir) -> list[Entry]:
  """Entries of a class-folder layout: `folder/CLASS/**/video.ext`.

  `video_id` is relative to `video_dir` when `folder` is inside it, else to
  `folder`'s parent. Files without a video extension are ignored.
  """
  folder = os.path.abspath(folder)
  video_dir = os.path.abspath(video_dir)
  inside = os.path.commonpath([folder, video_dir]) == video_dir
  base = video_dir if inside else os.path.dirname(folder)
  entries = []
  classes = sorted(d for d in os.listdir(folder)
                   if os.path.isdir(os.path.join(folder, d))
                   and not d.startswith("."))
  if not classes:
    raise ListError(f"{folder}: no class sub-folders")
  for name in classes:
    for root, dirs, files in os.walk(os.path.join(folder, name)):
      dirs.sort()
      for file in sorted(files):
        if file.lower().endswith(VIDEO_EXTENSIONS) and not file.startswith("."):
          path = os.path.join(root, file)
          entries.append(Entry(os.path.relpath(path, base), name, path))
  return entries


def resolve_labels(
    splits: dict[str, list[Entry]],
    class_names: list[str] | None = None,
) -> tuple[list[str], dict[str, list[tuple[Entry, int]]]]:
  """Integer labels and class names for all splits.

  Without `class_names`: if every label is an integer, classes are
  `"0".."max"`; otherwise every label must be a name, and classes are the
  sorted set of names. With `class_names`, names must be in it and integers in
  range.

  Returns:
    (class_names, {split: [(entry, label_index), ...]}).
  """
  all_entries = [e for entries in splits.values() for e in entries]
  if class_names is None:
    integer = [bool(_INT.match(e.label)) for e in all_entries]
    if all(integer):
      top = max((int(e.label) for e in all_entries), default=-1)
      class_names = [str(i) for i in range(top + 1)]
    else:
      mixed = [e for e, is_int in zip(all_entries, integer) if is_int]
      if mixed:
        raise ListError(
            f"{mixed[0].origin}: integer label {mixed[0].label!r} in lists "
            "whose other labels are class names; use one kind (or pass "
            "--classes)")
      class_names = sorted({e.label for e in all_entries})
  by_name = {name: i for i, name in enumerate(class_names)}
  resolved = {}
  for split, entries in splits.items():
    out = []
    for e in entries:
      if e.label in by_name:
        index = by_name[e.label]
      elif _INT.match(e.label):
        index = int(e.label)
        if not 0 <= index < len(class_names):
          raise ListError(f"{e.origin}: label {index} out of range "
                          f"[0, {len(class_names)})")
      else:
        raise ListError(f"{e.origin}: unknown label {e.label!r} (not one of "
                        f"the {len(class_names)} classes)")
      out.append((e, index))
    resolved[split] = out
  return class_names, resolved
