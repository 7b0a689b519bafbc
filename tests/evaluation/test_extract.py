"""extract: window features of long videos, resumable, bad files reported."""

import fractions
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import jax
from slowfast_jax.data import decode
from slowfast_jax.data import model_input
from slowfast_jax.data import synthetic
from slowfast_jax.evaluation import features
from slowfast_jax.evaluation import windows

import eval_configs

ROOT = pathlib.Path(__file__).resolve().parents[2]
NTSC = fractions.Fraction(30000, 1001)  # 29.97 fps.


def write_long_video(path, fps, num_frames, height, width, seed):
  """A moving-patch video (content changes every frame) of `num_frames`."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  rng = np.random.default_rng(seed)
  frames = synthetic.motion_video(rng, "right_fast", height=height,
                                  width=width, num_frames=num_frames)
  synthetic.write_video(str(path), frames, fps, crf=12)
  return str(path)


def spec(**overrides):
  values = dict(window_frames=16, stride_frames=15.0, clip_frames=8, fps=30.0,
                short_side=32, crop="center", crop_size=32)
  values.update(overrides)
  return windows.WindowSpec(**values)


@pytest.mark.parametrize("num_frames, window, stride, starts", [
    (100, 16, 15.0, [0, 15, 30, 45, 60, 75]),  # floor(84 / 15) + 1 = 6.
    (100, 16, 10.5, [0, 11, 21, 32, 42, 53, 63, 74, 84]),  # Round half up.
    (64, 32, 16.0, [0, 16, 32]),  # Exactly fits: the last window ends at 64.
    (63, 32, 16.0, [0, 16]),
    (20, 32, 16.0, [0]),  # Shorter than a window: one window.
    (361, 32, 16 / 30 * 30, list(range(0, 330, 16))),  # 0.5333 s at 30 fps.
])
def test_window_starts_and_times_follow_the_formula(num_frames, window,
                                                    stride, starts):
  s = spec(window_frames=window, stride_frames=stride, clip_frames=window)
  start, start_seconds, end_seconds = windows.window_frames_and_times(
      num_frames, s)
  assert start.tolist() == starts
  assert windows.window_count(num_frames, s) == len(starts)
  np.testing.assert_allclose(start_seconds, np.array(starts) / 30.0)
  np.testing.assert_allclose(
      end_seconds, np.minimum(np.array(starts) + window, num_frames) / 30.0)
  # Cut while streaming: the same windows, each the frames it names.
  frames = [np.full((6, 40, 3), k % 256, np.uint8) for k in range(num_frames)]
  cut = list(windows.iter_windows(iter(frames), spec(
      window_frames=window, stride_frames=stride, clip_frames=window,
      short_side=6, crop_size=6)))
  assert [w.start for w in cut] == starts
  for w in cut:
    expected = np.minimum(np.arange(w.start, w.start + window), num_frames - 1)
    assert w.clip.shape == (window, 6, 6, 3)
    assert w.clip[:, 0, 0, 0].tolist() == (expected % 256).tolist()


def test_windows_take_the_release_clip_indices():
  # 16-frame windows, 8 model frames: linspace(start, start + 15, 8).
  frames = [np.full((4, 4, 3), k, np.uint8) for k in range(40)]
  cut = list(windows.iter_windows(iter(frames), spec(
      short_side=4, crop_size=4, stride_frames=12.0)))
  assert [w.start for w in cut] == [0, 12, 24]
  assert cut[1].clip[:, 0, 0, 0].tolist() == [12, 14, 16, 18, 20, 22, 24, 27]


def _direct_features(model, variables, config, path, s):
  """Pooled features of every window, cut by hand from the decoded video."""
  frames = decode.decode_video(path, fps=s.fps, short_side=s.short_side)
  starts, _, _ = windows.window_frames_and_times(len(frames), s)
  y = (frames.shape[1] - s.crop_size + 1) // 2
  x = (frames.shape[2] - s.crop_size + 1) // 2
  clips = []
  for start in starts:
    index = np.minimum(np.linspace(start, start + s.window_frames - 1,
                                   s.clip_frames).astype(int), len(frames) - 1)
    clips.append(frames[index, y:y + s.crop_size, x:x + s.crop_size])
  pathways = model_input.prepare_pathways(np.stack(clips), config.model,
                                          config.data)
  out = jax.jit(lambda v, p: model.apply(v, p, output="features"))(
      variables, pathways)
  return len(frames), np.asarray(out["concat"])


def test_cli_features_equal_the_models_and_bad_files_are_reported(tmp_path):
  ckpt = str(tmp_path / "ckpt")
  config, model, variables = eval_configs.save_tiny_checkpoint(ckpt)
  videos = tmp_path / "videos"
  good = [
      write_long_video(videos / "a" / "v25.mp4", 25, 300, 54, 70, seed=0),
      write_long_video(videos / "b" / "v2997.mp4", NTSC, 260, 80, 42, seed=1),
  ]
  corrupt = videos / "b" / "corrupt.mp4"
  corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(500))
  listing = tmp_path / "list.txt"
  listing.write_text(f"# videos\n{good[0]}\n\n{corrupt}\n{good[1]}\n")
  out = tmp_path / "features"
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
  result = subprocess.run(
      [sys.executable, "-m", "slowfast_jax.extract", "--config",
       str(ROOT / "tests" / "eval_configs.py"), "--checkpoint", ckpt,
       "--out", str(out), "--list", str(listing), "--window-frames", "16",
       "--stride-seconds", "0.35", "--short-side", "32", "--crop_size", "32",
       "--batch", "4"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert result.returncode == 1, result.stderr[-3000:]
  bad = (out / "bad_files.tsv").read_text().splitlines()
  assert bad[0] == "path\treason" and len(bad) == 2
  assert bad[1].startswith(f"{corrupt}\t") and len(bad[1].split("\t")) == 2
  s = spec(stride_frames=0.35 * 30)
  for path, name in zip(good, ["a/v25", "b/v2997"]):
    record = json.loads((out / f"{name}.json").read_text())
    array = np.load(out / f"{name}.npy")
    num_frames, direct = _direct_features(model, variables, config, path, s)
    # 300 frames at 25 fps = 12 s = 360 frames at 30 fps; 260 at 29.97: 260.
    assert num_frames == {"a/v25": 360, "b/v2997": 260}[name]
    count = int(np.floor((num_frames - 16) / 10.5)) + 1
    starts = np.floor(np.arange(count) * 10.5 + 0.5).astype(int)
    assert record["num_frames"] == num_frames
    assert record["start_frame"] == starts.tolist()
    np.testing.assert_allclose(record["start_seconds"], starts / 30.0)
    np.testing.assert_allclose(record["end_seconds"], (starts + 16) / 30.0)
    assert array.shape == (count, 8 * 32 + 8 * 4) == direct.shape
    assert array.dtype == np.float32 and record["dim"] == array.shape[1]
    np.testing.assert_allclose(array, direct, atol=1e-5, rtol=0)
  assert sorted(p.name for p in out.rglob("*") if p.is_file()) == [
      "bad_files.tsv", "v25.json", "v25.npy", "v2997.json", "v2997.npy"]


class CountingFeatures:
  """A stand-in model: each window's mean grey level per frame `(batch, T)`;
  raises `KeyboardInterrupt` on call `interrupt_at` (an interrupted run)."""

  def __init__(self, interrupt_at=None):
    self.calls = 0
    self.interrupt_at = interrupt_at

  def __call__(self, clips):
    self.calls += 1
    if self.calls == self.interrupt_at:
      raise KeyboardInterrupt
    return clips.reshape(clips.shape[:2] + (-1,)).mean(-1)


@pytest.fixture(scope="module")
def three_videos(tmp_path_factory):
  root = tmp_path_factory.mktemp("three")
  return [write_long_video(root / f"v{i}.mp4", fps, 200, 48, 64, seed=i)
          for i, fps in enumerate([30, 25, NTSC])]


def test_an_interrupted_run_resumes_and_skips_finished_videos(
    tmp_path, three_videos):
  s = spec()
  out = str(tmp_path / "out")
  # 200 frames at 30 fps: 13 windows, 4 calls of 4; call 5 is the second video.
  with pytest.raises(KeyboardInterrupt):
    features.extract(three_videos, out, s, CountingFeatures(interrupt_at=5),
                     batch_size=4, progress=False)
  assert sorted(os.listdir(out)) == ["bad_files.tsv", "v0.json", "v0.npy"]
  finished = os.stat(os.path.join(out, "v0.npy")).st_mtime_ns
  # A temp file left by a killed writer is overwritten, never read.
  with open(os.path.join(out, "v1.npy.partial"), "wb") as f:
    f.write(b"half a file")
  apply = CountingFeatures()
  summary = features.extract(three_videos, out, s, apply, batch_size=4,
                             dtype="float16", progress=False)
  assert summary.skipped == ["v0"] and summary.written == ["v1", "v2"]
  assert not summary.failed
  assert os.stat(os.path.join(out, "v0.npy")).st_mtime_ns == finished
  assert not [n for n in os.listdir(out) if n.endswith(".partial")]
  # 200 frames at 25 fps = 240 at 30 fps: 15 windows; 200 at 29.97: 13.
  for name, count in [("v1", 15), ("v2", 13)]:
    array = np.load(os.path.join(out, f"{name}.npy"))
    assert array.shape == (count, 8) and array.dtype == np.float16
  assert apply.calls == 4 + 4
  # Everything written: a third run decodes nothing.
  again = CountingFeatures()
  summary = features.extract(three_videos, out, s, again, batch_size=4,
                             progress=False)
  assert again.calls == 0 and summary.skipped == ["v0", "v1", "v2"]


def test_hosts_split_the_list(tmp_path, three_videos):
  out = str(tmp_path / "out")
  written = [features.extract(three_videos, out, spec(), CountingFeatures(),
                              batch_size=4, process_index=i, process_count=2,
                              progress=False).written for i in range(2)]
  assert written == [["v0", "v2"], ["v1"]]
  assert sorted(os.listdir(out)) == [
      "bad_files.0-of-2.tsv", "bad_files.1-of-2.tsv", "v0.json", "v0.npy",
      "v1.json", "v1.npy", "v2.json", "v2.npy"]


def test_full_frames_keep_the_aspect_ratio(tmp_path, three_videos):
  out = str(tmp_path / "out")
  seen = []

  def apply(clips):
    seen.append(clips.shape)
    return clips.reshape(clips.shape[:2] + (-1,)).mean(-1)

  features.extract(three_videos[:1], out, spec(crop="full"), apply,
                   batch_size=4, progress=False)
  assert set(seen) == {(4, 8, 32, 42, 3)}  # 48x64 → short side 32.


def test_output_names_keep_subfolders_and_refuse_clashes():
  assert features.output_names(["/d/a/x.mp4", "/d/b/y.mkv"]) == ["a/x", "b/y"]
  assert features.output_names(["/d/a/x.mp4"]) == ["x"]
  with pytest.raises(ValueError, match="both be written as x.npy"):
    features.output_names(["/d/x.mp4", "/d/x.webm"])
