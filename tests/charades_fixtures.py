"""A tiny Charades-format set: the annotations' files and short videos.

  python tests/charades_fixtures.py OUT_DIR

writes, as the Charades downloads lay them out, `OUT_DIR/
Charades_v1_classes.txt`, `Charades_v1_train.csv`, `Charades_v1_test.csv`
(every column of the real CSVs; overlapping actions, an action after the
video's end, a video without actions) and `OUT_DIR/videos/ID.mp4`: 2-second
24-fps videos (one of 0.5 s) whose grey level counts the frames
(`data_fixtures.counter_frames`), one corrupt video (`BAD01`) and one missing
(`MISS1`). docs/charades.md runs the whole recipe on it.
"""

import csv
import os
import pathlib
import sys

import numpy as np

_TESTS = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(_TESTS), str(_TESTS.parent)]  # Also run as a script.
from data_fixtures import write_counter_video  # pylint: disable=g-import-not-at-top,wrong-import-position

CLASSES = ("Holding some clothes", "Putting clothes somewhere",
           "Taking some clothes from somewhere", "Throwing clothes somewhere",
           "Tidying some clothes", "Washing some clothes")
FPS = 24
SECONDS = 2.0
HEIGHT, WIDTH = 48, 64
TRAIN = {
    "AAA01": "c000 0.00 1.00;c001 0.50 2.00;c002 5.00 6.00",  # c002: after.
    "AAA02": "c001 0.10 0.90;c001 1.20 1.80",
    "AAA03": "c003 0.00 2.00;c004 0.30 0.70;c005 1.50 1.90",
    "AAA04": "",  # No actions.
    "AAA05": "c002 0.20 1.60;c000 1.00 1.95",
    "AAA06": "c005 0.00 2.00",
    "AAA07": "c004 0.40 1.40;c003 0.90 1.10",
    "SHRT1": "c000 0.00 0.40;c001 0.10 0.50",  # 0.5 s: shorter than a clip.
    "BAD01": "c000 0.00 1.00",  # Corrupt file.
    "MISS1": "c001 0.00 1.00",  # No file.
}
TEST = {
    "TTT01": "c000 0.00 1.20;c003 0.80 2.00",
    "TTT02": "c001 0.00 2.00",
    "TTT03": "c002 0.50 1.50;c005 1.00 1.90;c000 3.00 4.00",
}
SHORT = {"SHRT1": 0.5}
BAD = ("BAD01.mp4", "MISS1.mp4")
# The classes whose actions cover a frame k / 24 s (start < t < end).
VIDEO_LABELS = {
    "AAA01": [0, 1], "AAA02": [1], "AAA03": [3, 4, 5], "AAA04": [],
    "AAA05": [0, 2], "AAA06": [5], "AAA07": [3, 4], "SHRT1": [0, 1],
    "TTT01": [0, 3], "TTT02": [1], "TTT03": [2, 5],
}
_COLUMNS = ("id", "subject", "scene", "quality", "relevance", "verified",
            "script", "objects", "descriptions", "actions", "length")


def _write_csv(path, actions: dict[str, str]) -> None:
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(_COLUMNS)
    for video_id, text in actions.items():
      writer.writerow([video_id, "SUBJ", "Bedroom", "6", "7", "Yes",
                       "A person holds clothes, then puts them away.",
                       "clothes;closet", "A person tidies up.", text,
                       f"{SHORT.get(video_id, SECONDS):.2f}"])


def write_charades_set(root) -> pathlib.Path:
  """Writes the set into `root`; returns the video folder."""
  root = pathlib.Path(root)
  videos = root / "videos"
  videos.mkdir(parents=True, exist_ok=True)
  with open(root / "Charades_v1_classes.txt", "w") as f:
    f.writelines(f"c{i:03d} {name}\n" for i, name in enumerate(CLASSES))
  _write_csv(root / "Charades_v1_train.csv", TRAIN)
  _write_csv(root / "Charades_v1_test.csv", TEST)
  for seed, video_id in enumerate({**TRAIN, **TEST}):
    if f"{video_id}.mp4" in BAD:
      continue
    write_counter_video(str(videos / f"{video_id}.mp4"), FPS,
                        SHORT.get(video_id, SECONDS), HEIGHT, WIDTH,
                        seed=seed)
  rng = np.random.default_rng(0)
  (videos / "BAD01.mp4").write_bytes(
      rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
  return videos


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit(f"usage: {sys.argv[0]} OUT_DIR")
  print(f"Wrote {write_charades_set(sys.argv[1])}")
