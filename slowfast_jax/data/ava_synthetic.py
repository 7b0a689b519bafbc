r"""A synthetic AVA-style dataset, generated locally (no download).

  python -m slowfast_jax.data.ava_synthetic --out DIR

writes the AVA v2.2 layout with the file names of the release's `_SHORT`
configs, so an AVA preset reads it with few overrides (docs/detection.md):

  DIR/movies/VIDEO_ID.mp4                      H.264, 30 fps
  DIR/annotations/ava_{train,val}_v2.2.csv     ground truth
  DIR/annotations/person_box_67091280_iou90/
      ava_detection_train_boxes_and_labels_include_negative_v2.2.csv
      ava_detection_val_boxes_and_labels.csv   scored person boxes
  DIR/annotations/ava_action_list_v2.2_for_activitynet_2019.pbtxt
  DIR/annotations/ava_val_excluded_timestamps_v2.2.csv

Each movie is a static textured background with 1-3 "actors": boxes filled
with a texture of their own, drifting slowly across the frame. Inside its
box an actor does one or more actions, each a motion of its texture:
`slide` (drifts sideways, either way), `bob` (oscillates up and down),
`flicker` (brightness oscillates) and `spin` (rotates, either way). Speeds,
phases and base brightness are random, so one frame does not show the
actions: telling them apart needs several frames. All four are unchanged by
a horizontal flip, so the release's random flip can stay on.

Ground truth: each annotated second, one row per actor and action (person id
= actor). Person boxes: each actor's box jittered by up to `JITTER` of its
size with a score in [0.85, 1), plus false positives (random boxes, scores in
[0.05, 0.6), no action: negatives in the training file).
"""

import csv
import os

from absl import app
from absl import flags
from absl import logging
import numpy as np
from PIL import Image

from slowfast_jax.data import synthetic

ACTIONS = ("slide", "bob", "flicker", "spin")  # Action id = index + 1.
FPS = 30
JITTER = 0.04
BOX_DIR = "person_box_67091280_iou90"
FILES = {
    "train_gt": "ava_train_v2.2.csv",
    "val_gt": "ava_val_v2.2.csv",
    "train_boxes": f"{BOX_DIR}/ava_detection_train_boxes_and_labels_include_"
                   "negative_v2.2.csv",
    "val_boxes": f"{BOX_DIR}/ava_detection_val_boxes_and_labels.csv",
    "label_map": "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
    "excluded": "ava_val_excluded_timestamps_v2.2.csv",
}


def _actor(rng, height: int, width: int, seconds: float, slot: int,
           num_slots: int) -> dict:
  """Random size, path and actions of one actor, in column `slot` of
  `num_slots` (actors never overlap)."""
  box_h = int(rng.uniform(0.4, 0.6) * height)
  box_w = int(rng.uniform(0.22, 0.3) * width)
  left, right = slot * width / num_slots, (slot + 1) * width / num_slots
  low, high = [0, left], [height - box_h, max(left, right - box_w)]
  start = rng.uniform(low, high)
  end = np.clip(start + rng.uniform(-0.1, 0.1, 2) * [height, width], low, high)
  actions = [a for a in ACTIONS if rng.uniform() < 0.4]
  if not actions:
    actions = [ACTIONS[rng.integers(len(ACTIONS))]]
  return {
      "size": (box_h, box_w), "start": start, "end": end,
      "frames": int(seconds * FPS), "actions": actions,
      "texture": np.tile(rng.uniform(0, 255, (4, 4, 3)), (2, 2, 1)),
      "speed": rng.uniform(1.5, 2.5) * rng.choice([-1, 1]),
      "phase": rng.uniform(0, 2 * np.pi),
      "period": rng.uniform(8, 14), "brightness": rng.uniform(-50, 50),
  }


def actor_box(actor: dict, t: int) -> tuple[float, float, float, float]:
  """`(y1, x1, y2, x2)` in pixels of `actor` at frame `t`."""
  f = t / max(actor["frames"] - 1, 1)
  y, x = actor["start"] + f * (actor["end"] - actor["start"])
  box_h, box_w = actor["size"]
  return int(y), int(x), int(y) + box_h, int(x) + box_w


def _patch(actor: dict, t: int) -> np.ndarray:
  """The actor's box content at frame `t`: float `(box_h, box_w, 3)`."""
  box_h, box_w = actor["size"]
  side = 6 * -(-2 * max(box_h, box_w) // 6)  # Texture period: side / 2.
  tile = np.asarray(Image.fromarray(actor["texture"].astype(np.uint8)).resize(
      (side, side), Image.Resampling.BILINEAR), np.float32)
  angle = phase = 0.0
  wave = np.sin(2 * np.pi * t / actor["period"] + actor["phase"])
  if "spin" in actor["actions"]:
    angle = 3.0 * actor["speed"] * t
  if "slide" in actor["actions"]:
    phase = actor["speed"] * t
  image = Image.fromarray(tile.astype(np.uint8)).rotate(
      angle, resample=Image.Resampling.BILINEAR,
      fillcolor=(128, 128, 128)) if angle else Image.fromarray(
          tile.astype(np.uint8))
  tile = np.asarray(image, np.float32)
  dy = 5.0 * wave if "bob" in actor["actions"] else 0.0
  y0 = int(round(side / 4 + dy))
  x0 = int(round(side / 4 + phase)) % (side // 2)
  patch = tile[y0:y0 + box_h, x0:x0 + box_w]
  light = actor["brightness"]
  if "flicker" in actor["actions"]:
    light += 50.0 * wave
  return patch + light


def movie(rng, *, height: int, width: int, seconds: float, num_actors: int):
  """Frames uint8 `(time, height, width, 3)` and the actors."""
  background = (synthetic.smooth_texture(rng, height, width, 12) * 40 + 110)
  actors = [_actor(rng, height, width, seconds, slot, num_actors)
            for slot in range(num_actors)]
  num_frames = int(seconds * FPS)
  frames = np.empty((num_frames, height, width, 3), np.uint8)
  for t in range(num_frames):
    frame = background.copy()
    for actor in actors:
      y1, x1, y2, x2 = actor_box(actor, t)
      frame[y1:y2, x1:x2] = _patch(actor, t)
    frames[t] = np.clip(frame, 0, 255)
  return frames, actors


def _normalised(box, height, width):
  y1, x1, y2, x2 = box
  return (x1 / width, y1 / height, x2 / width, y2 / height)


def _fmt(box) -> list[str]:
  return [f"{min(max(v, 0.0), 1.0):.3f}" for v in box]


def _rows(rng, video_id, actors, second, height, width, *, split):
  """Ground-truth and person-box rows of one annotated second."""
  t = second * FPS
  gt, boxes = [], []
  for person, actor in enumerate(actors):
    box = _normalised(actor_box(actor, t), height, width)
    for action in actor["actions"]:
      gt.append([video_id, second, *_fmt(box), ACTIONS.index(action) + 1,
                 person])
    w, h = box[2] - box[0], box[3] - box[1]
    noisy = np.asarray(box) + rng.uniform(-JITTER, JITTER, 4) * [w, h, w, h]
    score = f"{rng.uniform(0.85, 1.0):.3f}"
    if split == "train":  # Training boxes carry the actor's labels.
      for action in actor["actions"]:
        boxes.append([video_id, second, *_fmt(noisy),
                      ACTIONS.index(action) + 1, score])
    else:
      boxes.append([video_id, second, *_fmt(noisy), "", score])
  for _ in range(rng.integers(0, 3)):  # False positives.
    x1, y1 = rng.uniform(0, 0.7, 2)
    box = (x1, y1, x1 + rng.uniform(0.1, 0.3), y1 + rng.uniform(0.2, 0.3))
    boxes.append([video_id, second, *_fmt(box), "",
                  f"{rng.uniform(0.05, 0.6):.3f}"])
  return gt, boxes


def write_label_map(path) -> None:
  with open(path, "w") as f:
    for i, name in enumerate(ACTIONS, 1):
      f.write(f'item {{\n  name: "{name}"\n  id: {i}\n}}\n')


def generate(out_dir, *, train_movies: int = 24, val_movies: int = 8,
             height: int = 72, width: int = 96, seconds: float = 8.0,
             seed: int = 0) -> dict[str, str]:
  """Writes movies and annotations; returns {"movies", "annotations"} dirs.

  Deterministic for a seed; movies already on disk are kept. Every second
  but the first and last is annotated (keyframe seconds 1 to seconds - 2).
  """
  out_dir = os.fspath(out_dir)
  movie_dir = os.path.join(out_dir, "movies")
  annotation_dir = os.path.join(out_dir, "annotations")
  os.makedirs(movie_dir, exist_ok=True)
  os.makedirs(os.path.join(annotation_dir, BOX_DIR), exist_ok=True)
  excluded = []
  for split_id, (split, count) in enumerate(
      (("train", train_movies), ("val", val_movies))):
    gt_rows, box_rows = [], []
    for i in range(count):
      video_id = f"syn_{split}_{i:03d}"
      rng = np.random.default_rng([seed, split_id, i])
      frames, actors = movie(rng, height=height, width=width, seconds=seconds,
                             num_actors=int(rng.integers(1, 4)))
      path = os.path.join(movie_dir, f"{video_id}.mp4")
      if not os.path.exists(path):
        synthetic.write_video(path, frames, FPS, crf=18)
      for second in range(1, int(seconds) - 1):
        gt, boxes = _rows(rng, video_id, actors, second, height, width,
                          split=split)
        gt_rows += gt
        box_rows += boxes
      if split == "val" and i < 2:
        excluded.append([video_id, f"{2 + i:04d}"])
    for key, rows in ((f"{split}_gt", gt_rows), (f"{split}_boxes", box_rows)):
      with open(os.path.join(annotation_dir, FILES[key]), "w",
                newline="") as f:
        csv.writer(f).writerows(rows)
  with open(os.path.join(annotation_dir, FILES["excluded"]), "w",
            newline="") as f:
    csv.writer(f).writerows(excluded)
  write_label_map(os.path.join(annotation_dir, FILES["label_map"]))
  return {"movies": movie_dir, "annotations": annotation_dir}


def ensure_demo_dataset(config, *, train_movies: int, val_movies: int,
                        workers: int | None = None) -> str:
  """Generates and prepares `config.data`'s synthetic set unless it exists.

  The movies and annotations go to `data_dir/{name}_source`, the prepared
  keyframes (source frame size, `config.data.keyframe_seconds`) to
  `data_dir/{name}/1.0.0`. A no-op when the dataset is already prepared; an
  interrupted first run resumes. Returns the prepared dataset's directory.
  """
  from slowfast_jax.data import ava_prepare  # pylint: disable=g-import-not-at-top
  from slowfast_jax.data import builder  # pylint: disable=g-import-not-at-top
  data = config.data
  directory = builder.version_dir(data.data_dir, data.name)
  if builder.is_complete(directory):
    return directory
  height, width = data.demo_frame_size
  dirs = generate(os.path.join(os.fspath(data.data_dir), f"{data.name}_source"),
                  train_movies=train_movies, val_movies=val_movies,
                  height=height, width=width, seconds=data.demo_seconds)
  summary = ava_prepare.prepare_ava(
      config, annotation_dir=dirs["annotations"], video_dir=dirs["movies"],
      data_dir=data.data_dir, short_side=0,
      workers=min(2, os.cpu_count() or 1) if workers is None else workers)
  for line in ava_prepare.summary_lines(summary):
    logging.info("%s", line)
  return directory


def _define_flags() -> None:
  flags.DEFINE_string("out", None, "Output folder.", required=True)
  flags.DEFINE_integer("train-movies", 24, "Training movies.")
  flags.DEFINE_integer("val-movies", 8, "Validation movies.")
  synthetic.define_frame_flags(height=72, width=96, seconds=8.0)


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  movies = {"train_movies": flags.FLAGS["train-movies"].value,
            "val_movies": flags.FLAGS["val-movies"].value}
  dirs = generate(flags.FLAGS["out"].value, **movies,
                  **synthetic.frame_flag_values())
  print("Wrote {train_movies} + {val_movies} movies to ".format(**movies) +
        f"{dirs['movies']}, annotations to {dirs['annotations']}")
  return 0


if __name__ == "__main__":
  _define_flags()
  app.run(main)
