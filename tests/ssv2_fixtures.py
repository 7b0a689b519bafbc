"""A tiny Something-Something v2 set: the label files and short webm videos.

  python tests/ssv2_fixtures.py OUT_DIR

writes, as the SSv2 downloads lay them out, `OUT_DIR/
something-something-v2-labels.json` (the 174 real templates,
`ssv2_templates.txt`), `something-something-v2-train.json` and
`-validation.json` (`id`, `label`, `template` with "[something]",
`placeholders`) and `OUT_DIR/videos/ID.webm`: 2-second 12-fps VP9 videos
(one of 0.5 s), 48 × 64, whose grey level counts the frames
(`data_fixtures.counter_frames`) plus a left-to-right ramp whose sign is the
template's direction (`RAMP`), one corrupt video and one missing.
docs/ssv2.md runs the recipe on it.
"""

import fractions
import json
import os
import pathlib
import sys

import av
import numpy as np

_TESTS = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(_TESTS), str(_TESTS.parent)]  # Also run as a script.
from data_fixtures import counter_frames  # pylint: disable=g-import-not-at-top,wrong-import-position

TEMPLATES = tuple((_TESTS / "ssv2_templates.txt").read_text().splitlines())
FPS = 12  # SSv2's videos are 12 fps.
SECONDS = 2.0
HEIGHT, WIDTH = 48, 64
PUSH_LR = "Pushing [something] from left to right"
PUSH_RL = "Pushing [something] from right to left"
CAMERA_L = "Turning the camera left while filming [something]"
PLUG = ("Plugging [something] into [something] but pulling it right out as "
        "you remove your hand")
OPEN = "Opening [something]"
# The training videos show one direction of each pair only: a label from the
# other side can only come from a label-aware flip.
TRAIN = {
    "101": PUSH_LR, "102": PUSH_LR, "103": CAMERA_L, "104": PLUG,
    "105": OPEN, "106": "Putting [something] upright on the table",
    "107": PUSH_LR, "108": OPEN,
    "109": OPEN,  # Corrupt file.
    "110": PLUG,  # No file.
}
VALIDATION = {"201": PUSH_RL, "202": OPEN, "203": PUSH_LR}
SHORT = {"107": 0.5}
BAD = ("109.webm", "110.webm")
# Brightness slope of a video, left to right: + for a template whose motion
# goes right, - for its mirror image, 0 for the rest.
RAMP = {PUSH_LR: 1, PUSH_RL: -1, CAMERA_L: 1}
RAMP_LEVELS = 24  # Grey levels from the ramp's centre to either edge.


def class_of(template: str) -> int:
  """The class index of an annotation's template (brackets removed)."""
  return TEMPLATES.index(template.replace("[", "").replace("]", ""))


def video_frames(template: str, seconds: float, seed: int) -> np.ndarray:
  """Counter frames plus the template's ramp: uint8 `(T, 48, 64, 3)`."""
  frames = counter_frames(int(round(FPS * seconds)), HEIGHT, WIDTH, seed)
  ramp = np.linspace(-RAMP_LEVELS, RAMP_LEVELS, WIDTH) * RAMP.get(template, 0)
  return np.clip(frames + np.round(ramp)[None, None, :, None], 0,
                 255).astype(np.uint8)


def write_webm(path, frames: np.ndarray, fps: int) -> None:
  """Writes uint8 RGB frames `(time, height, width, 3)` as VP9 webm."""
  with av.open(os.fspath(path), "w", format="webm") as container:
    stream = container.add_stream("libvpx-vp9",
                                  rate=fractions.Fraction(fps))
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "10", "b:v": "0", "deadline": "realtime"}
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(
          frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def _annotation(video_id: str, template: str) -> dict:
  objects = ["a cup", "a box"][:template.count("[something]")]
  label = template
  for name in objects:
    label = label.replace("[something]", name, 1)
  return {"id": video_id, "label": label.lower(), "template": template,
          "placeholders": objects}


def write_ssv2_set(root) -> pathlib.Path:
  """Writes the set into `root`; returns the video folder."""
  root = pathlib.Path(root)
  videos = root / "videos"
  videos.mkdir(parents=True, exist_ok=True)
  labels = {name: str(i) for i, name in enumerate(TEMPLATES)}
  (root / "something-something-v2-labels.json").write_text(
      json.dumps(labels, indent=1))
  for name, split in (("train", TRAIN), ("validation", VALIDATION)):
    (root / f"something-something-v2-{name}.json").write_text(json.dumps(
        [_annotation(i, t) for i, t in split.items()]))
  for seed, (video_id, template) in enumerate({**TRAIN, **VALIDATION}.items()):
    if f"{video_id}.webm" in BAD:
      continue
    write_webm(videos / f"{video_id}.webm",
               video_frames(template, SHORT.get(video_id, SECONDS), seed),
               FPS)
  rng = np.random.default_rng(0)
  (videos / "109.webm").write_bytes(
      rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
  return videos


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit(f"usage: {sys.argv[0]} OUT_DIR")
  print(f"Wrote {write_ssv2_set(sys.argv[1])}")
