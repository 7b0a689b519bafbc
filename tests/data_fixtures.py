"""Small generated videos and a prepared dataset for the data tests.

Videos are a few dozen pixels and 1-2 seconds long, with the frame number
drawn into them (a grey level) so resampling can be checked.
"""

import os

import av
import numpy as np
import pytest

from slowfast_jax.data import synthetic

# name -> (fps, seconds, height, width, class)
GOOD_VIDEOS = {
    "a/v25.mp4": (25, 2.0, 48, 64, "a"),
    "a/v30.mp4": (30, 1.6, 64, 48, "a"),  # Portrait.
    "b/v60.mp4": (60, 1.5, 40, 72, "b"),
    "b/v30b.mp4": (30, 2.0, 48, 64, "b"),
    "c/v24.mp4": (24, 1.2, 48, 64, "c"),
    "c/v30c.mp4": (30, 0.5, 48, 64, "c"),  # Shorter than a 16x2 window.
}
VAL_VIDEOS = {
    "val/a1.mp4": (30, 1.4, 48, 64, "a"),
    "val/b1.mp4": (25, 1.2, 64, 48, "b"),
    "val/c1.mp4": (30, 1.0, 48, 64, "c"),
    "val/a2.mp4": (60, 1.0, 48, 64, "a"),
    "val/b2.mp4": (30, 1.8, 40, 72, "b"),
}
BAD_VIDEOS = ("bad/zero.mp4", "bad/text.mp4", "bad/corrupt.mp4",
              "bad/truncated.mp4", "bad/audio_only.mp4", "bad/missing.mp4")
CLASSES = ("a", "b", "c")


def counter_frames(num_frames, height, width, seed=0):
  """Frames whose mean grey level encodes the frame number (k * 3)."""
  rng = np.random.default_rng(seed)
  texture = rng.integers(-20, 21, size=(height, width, 3))
  frames = np.empty((num_frames, height, width, 3), np.uint8)
  for k in range(num_frames):
    frames[k] = np.clip(30 + 3 * k + texture, 0, 255)
  return frames


def write_counter_video(path, fps, seconds, height, width, seed=0):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  frames = counter_frames(int(round(fps * seconds)), height, width, seed)
  synthetic.write_video(path, frames, fps, crf=12)
  return frames


def frame_numbers(frames):
  """Recovers the drawn frame numbers from decoded frames."""
  return np.round((frames.reshape(len(frames), -1).mean(axis=1) - 30) / 3)


def write_audio_only(path):
  with av.open(path, "w") as container:
    stream = container.add_stream("aac", rate=16000)
    samples = np.zeros((1, 16000), np.float32)
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
    frame.sample_rate = 16000
    for packet in stream.encode(frame):
      container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def make_video_tree(root):
  """Writes good, bad and val videos plus lists; returns the list paths."""
  for i, (name, spec) in enumerate({**GOOD_VIDEOS, **VAL_VIDEOS}.items()):
    fps, seconds, height, width, _ = spec
    write_counter_video(os.path.join(root, name), fps, seconds, height, width,
                        seed=i)
  bad = os.path.join(root, "bad")
  os.makedirs(bad, exist_ok=True)
  open(os.path.join(bad, "zero.mp4"), "wb").close()
  with open(os.path.join(bad, "text.mp4"), "w") as f:
    f.write("this is a text file, not a video\n" * 20)
  rng = np.random.default_rng(0)
  with open(os.path.join(bad, "corrupt.mp4"), "wb") as f:
    f.write(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
  good = open(os.path.join(root, "a/v25.mp4"), "rb").read()
  with open(os.path.join(bad, "truncated.mp4"), "wb") as f:
    f.write(good[:len(good) // 2])
  write_audio_only(os.path.join(bad, "audio_only.mp4"))
  lists = {}
  train_lines = [f"{n} {spec[4]}\n" for n, spec in GOOD_VIDEOS.items()]
  train_lines += [f"{n} a\n" for n in BAD_VIDEOS]
  lists["train"] = os.path.join(root, "train.csv")
  with open(lists["train"], "w") as f:
    f.write("path label\n")  # Optional header.
    f.writelines(train_lines)
  lists["val"] = os.path.join(root, "val.csv")
  with open(lists["val"], "w") as f:  # Comma separated, class names.
    f.writelines(f"{n},{spec[4]}\n" for n, spec in VAL_VIDEOS.items())
  return lists


@pytest.fixture(scope="session")
def video_tree(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("videos"))
  return root, make_video_tree(root)


@pytest.fixture(scope="session")
def prepared(video_tree, tmp_path_factory):
  """The tree prepared at 30 fps, short side 32, 2 workers, 2 videos/shard."""
  from slowfast_jax.data import prepare  # pylint: disable=g-import-not-at-top
  root, lists = video_tree
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  summary = prepare.prepare(name="tiny", video_dir=root, splits=lists,
                            data_dir=data_dir, fps=30, short_side=32,
                            workers=2, videos_per_shard=2, progress=False)
  return data_dir, "tiny", summary


def tiny_config(data_dir, name="tiny", *, num_frames=8, sampling_rate=2,
                arch="slowfast", batch_size=4):
  """A full config sized for the tiny dataset."""
  from slowfast_jax import config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.kinetics_config(
      config_lib.model_config(arch=arch, num_frames=num_frames, alpha=4))
  config.data.name = name
  config.data.data_dir = data_dir
  config.data.sampling_rate = sampling_rate
  config.data.train_jitter_scales = [32, 40]
  config.model.train_crop_size = 28
  config.data.test_crop_size = 32
  config.data.shuffle_buffer = 16
  config.global_batch_size = batch_size
  config.eval.batch_size = batch_size
  return config
