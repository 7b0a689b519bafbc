"""`prepare`: raw videos -> TFDS dataset; bad input; resuming."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_fixtures import BAD_VIDEOS
from data_fixtures import GOOD_VIDEOS
from data_fixtures import prepared  # pylint: disable=unused-import
from data_fixtures import VAL_VIDEOS
from data_fixtures import video_tree  # pylint: disable=unused-import
from data_fixtures import write_counter_video
from slowfast_jax import class_names
from slowfast_jax.data import builder
from slowfast_jax.data import prepare
from slowfast_jax.data import prepare_worker
from slowfast_jax.data import video_lists

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _read_split(data_dir, name, split):
  """The split's examples, each with its decoded frames as `video`."""
  ds_builder = tfds.builder(name, data_dir=data_dir)
  return [{**e, "video": builder.read_video(ds_builder, e)}
          for e in ds_builder.as_dataset(split=split).as_numpy_iterator()]


def test_dataset_contents(prepared):
  data_dir, name, summary = prepared
  assert summary.written == {"train": len(GOOD_VIDEOS),
                             "val": len(VAL_VIDEOS)}
  ds_builder = tfds.builder(name, data_dir=data_dir)  # Plain TFDS API.
  info = ds_builder.info
  assert info.features["label"].names == ["a", "b", "c"]
  assert info.splits["train"].num_examples == len(GOOD_VIDEOS)
  assert info.splits["val"].num_examples == len(VAL_VIDEOS)
  assert info.metadata["fps"] == 30.0 and info.metadata["short_side"] == 32
  same = tfds.builder_from_directory(builder.version_dir(data_dir, name))
  assert same.info.splits["val"].num_examples == len(VAL_VIDEOS)
  for split, expected in (("train", GOOD_VIDEOS), ("val", VAL_VIDEOS)):
    examples = _read_split(data_dir, name, split)
    assert sorted(e["video_id"].decode() for e in examples) == sorted(expected)
    for example in examples:
      fps, seconds, height, width, label = expected[
          example["video_id"].decode()]
      assert example["label"] == "abc".index(label)
      video = example["video"]
      assert video.dtype == np.uint8 and video.ndim == 4
      assert min(video.shape[1:3]) == 32
      assert (video.shape[1] > video.shape[2]) == (height > width)
      assert abs(len(video) - round(fps * seconds) / fps * 30) <= 1


def test_bad_videos_are_skipped_and_reported(prepared):
  _, _, summary = prepared
  skipped = {row[2]: row for row in summary.skipped}
  assert sorted(skipped) == sorted(BAD_VIDEOS)
  assert summary.exit_code == len(BAD_VIDEOS)
  with open(summary.report_path) as f:
    lines = f.read().splitlines()
  assert os.path.dirname(summary.report_path) == summary.directory
  assert lines[0].split("\t") == ["split", "list_line", "video_id", "reason"]
  rows = {line.split("\t")[2]: line.split("\t") for line in lines[1:]}
  assert sorted(rows) == sorted(BAD_VIDEOS)
  assert "empty file" in rows["bad/zero.mp4"][3]
  assert "no video stream" in rows["bad/audio_only.mp4"][3]
  assert "file not found" in rows["bad/missing.mp4"][3]
  # The list line: header is line 1, then the good videos, then the bad.
  assert rows["bad/zero.mp4"][1].endswith(
      f"train.csv:{2 + len(GOOD_VIDEOS)}")


def test_rerunning_a_finished_prepare_does_nothing(prepared, video_tree):
  data_dir, name, _ = prepared
  root, lists = video_tree
  directory = builder.version_dir(data_dir, name)
  before = {f: os.stat(os.path.join(directory, f)).st_mtime_ns
            for f in os.listdir(directory) if ".tfrecord-" in f}
  calls = []
  summary = prepare.prepare(
      name=name, video_dir=root, splits=lists, data_dir=data_dir, fps=30,
      short_side=32, workers=0, videos_per_shard=2, progress=False,
      process=lambda *a: calls.append(a))
  assert calls == [] and summary.processed_now == 0
  assert summary.written["train"] == len(GOOD_VIDEOS)
  after = {f: os.stat(os.path.join(directory, f)).st_mtime_ns
           for f in before}
  assert after == before
  with pytest.raises(prepare.PrepareError, match="--overwrite"):
    prepare.prepare(name=name, video_dir=root, splits=lists,
                    data_dir=data_dir, fps=30, short_side=40, workers=0,
                    videos_per_shard=2, progress=False)


def test_interrupted_prepare_resumes(prepared, video_tree, tmp_path,
                                     monkeypatch):
  root, lists = video_tree
  data_dir = str(tmp_path)
  write_records = builder.write_records
  written = []

  def interrupt_on_third_shard(path, records):
    if len(written) == 2:
      raise KeyboardInterrupt
    written.append(path)
    return write_records(path, records)

  monkeypatch.setattr(builder, "write_records", interrupt_on_third_shard)
  args = dict(name="tiny", video_dir=root, splits=lists, data_dir=data_dir,
              fps=30, short_side=32, videos_per_shard=2, progress=False)
  with pytest.raises(KeyboardInterrupt):
    prepare.prepare(workers=0, **args)
  monkeypatch.setattr(builder, "write_records", write_records)
  assert not builder.is_complete(builder.version_dir(data_dir, "tiny"))

  decoded = []

  def counting(path, *rest):
    decoded.append(os.path.relpath(path, root))
    return prepare_worker.process_video(path, *rest)

  summary = prepare.prepare(workers=0, process=counting, **args)
  total = len(GOOD_VIDEOS) + len(BAD_VIDEOS) + len(VAL_VIDEOS)
  assert summary.processed_now == len(decoded) == total - 4  # 2 shards of 2.
  # The resumed dataset is the uninterrupted one, byte for byte.
  reference_dir = builder.version_dir(prepared[0], "tiny")
  directory = builder.version_dir(data_dir, "tiny")
  shards = sorted(f for f in os.listdir(reference_dir) if ".tfrecord-" in f)
  assert shards == sorted(f for f in os.listdir(directory)
                          if ".tfrecord-" in f)
  for shard in shards:
    with open(os.path.join(reference_dir, shard), "rb") as a, open(
        os.path.join(directory, shard), "rb") as b:
      assert a.read() == b.read(), shard
  assert len(summary.skipped) == len(BAD_VIDEOS)


def test_class_folder_split(video_tree, tmp_path):
  root, _ = video_tree
  folder = tmp_path / "videos"
  for cls, names in (("walk", ["a/v25.mp4", "b/v60.mp4"]),
                     ("run", ["c/v24.mp4"])):
    os.makedirs(folder / cls)
    for n in names:
      shutil.copy(os.path.join(root, n), folder / cls / os.path.basename(n))
  (folder / "run" / "notes.txt").write_text("not a video")
  summary = prepare.prepare(name="folders", video_dir=str(folder),
                            splits={"train": str(folder)},
                            data_dir=str(tmp_path / "out"), short_side=24,
                            workers=0, progress=False)
  assert summary.written == {"train": 3} and not summary.skipped
  examples = _read_split(str(tmp_path / "out"), "folders", "train")
  ds_builder = tfds.builder("folders", data_dir=str(tmp_path / "out"))
  assert ds_builder.info.features["label"].names == ["run", "walk"]
  labels = {e["video_id"].decode(): e["label"] for e in examples}
  assert labels == {"walk/v25.mp4": 1, "walk/v60.mp4": 1, "run/v24.mp4": 0}


def _run_cli(*args):
  return subprocess.run(
      [sys.executable, "-m", "slowfast_jax.data.prepare", *args],
      capture_output=True, text=True, cwd=REPO, check=False,
      env={**os.environ, "PYTHONPATH": REPO})


def test_cli_exit_status_counts_skipped_videos(video_tree, tmp_path):
  root, _ = video_tree
  listing = tmp_path / "list.txt"
  listing.write_text("a/v25.mp4 0\nbad/zero.mp4 1\nb/v60.mp4 1\n"
                     "bad/text.mp4 0\n")
  result = _run_cli("--name", "cli", "--video-dir", root, "--split",
                    f"train={listing}", "--data-dir", str(tmp_path / "out"),
                    "--short-side", "24", "--workers", "1")
  assert result.returncode == 2, result.stderr
  assert "2 videos skipped" in result.stdout
  assert "train: 2 written, 2 skipped" in result.stdout
  assert "skipped_videos.tsv" in result.stdout
  ds_builder = tfds.builder("cli", data_dir=str(tmp_path / "out"))
  assert ds_builder.info.features["label"].names == ["0", "1"]


def test_cli_bad_list_line_is_a_clear_error(video_tree, tmp_path):
  root, _ = video_tree
  listing = tmp_path / "list.txt"
  listing.write_text("a/v25.mp4 0\nb/v60.mp4\n")
  result = _run_cli("--name", "cli", "--video-dir", root, "--split",
                    f"train={listing}", "--data-dir", str(tmp_path / "out"))
  assert result.returncode == prepare.FATAL
  assert f"{listing}:2: missing column" in result.stderr
  assert not (tmp_path / "out").exists()


def test_list_formats(tmp_path):
  listing = tmp_path / "list.csv"
  listing.write_text(
      "video,label\n"  # Header.
      "x/1.mp4,air drumming\n"  # Comma: class names may contain spaces.
      "\n# a comment\n"
      '"y/2 b.mp4",abseiling\n')
  entries = video_lists.read_list(listing)
  assert [(e.video_id, e.label) for e in entries] == [
      ("x/1.mp4", "air drumming"), ("y/2 b.mp4", "abseiling")]
  assert entries[1].origin == f"{listing}:5"
  release = tmp_path / "release.csv"
  release.write_text("a.mp4 300 3\nb.mp4 1\n")  # path num_frames label.
  assert [(e.video_id, e.label) for e in video_lists.read_list(release)] == [
      ("a.mp4", "3"), ("b.mp4", "1")]


@pytest.mark.parametrize("content,classes,message", [
    ("a.mp4 0\nb.mp4\n", None, ":2: missing column"),
    ("a.mp4 air drumming\n", None, ":1: expected `path label`"),
    ("a.mp4 0\nb.mp4 walk\n", None, ":1: integer label"),
    ("a.mp4 walk\nb.mp4 fly\n", ["walk", "run"], ":2: unknown label 'fly'"),
    ("a.mp4 1\nb.mp4 2\n", ["walk", "run"], ":2: label 2 out of range"),
    ("a.mp4 -1\n", None, ":1: label -1 out of range"),
])
def test_bad_list_lines_name_the_line(tmp_path, content, classes, message):
  listing = tmp_path / "list.txt"
  listing.write_text(content)
  with pytest.raises(video_lists.ListError, match=message) as info:
    entries = video_lists.read_list(listing)
    video_lists.resolve_labels({"train": entries}, classes)
  assert str(listing) in str(info.value)


def test_integer_labels_with_class_file(tmp_path):
  listing = tmp_path / "list.txt"
  listing.write_text("a.mp4 1\nb.mp4 0\n")
  names, resolved = video_lists.resolve_labels(
      {"train": video_lists.read_list(listing)}, ["walk", "run"])
  assert names == ["walk", "run"]
  assert [label for _, label in resolved["train"]] == [1, 0]


def test_crashing_decoder_is_skipped_not_fatal(video_tree, tmp_path):
  # A worker process that dies (e.g. a segfault in a decoder) costs only its
  # video.
  root, _ = video_tree
  listing = tmp_path / "list.txt"
  listing.write_text("a/v25.mp4 0\nc/v30c.mp4 1\nb/v60.mp4 1\n")
  summary = prepare.prepare(
      name="crash", video_dir=root, splits={"train": str(listing)},
      data_dir=str(tmp_path / "out"), short_side=24, workers=2,
      progress=False, process=crashing_process)
  assert summary.written == {"train": 2}
  assert [row[2] for row in summary.skipped] == ["c/v30c.mp4"]
  assert "crashed" in summary.skipped[0][3]


def crashing_process(path, *args):
  if path.endswith("v30c.mp4"):
    os._exit(1)  # pylint: disable=protected-access
  return prepare_worker.process_video(path, *args)


def test_written_frames_equal_decoded_frames(prepared, video_tree):
  data_dir, name, _ = prepared
  root, _ = video_tree
  from slowfast_jax.data import decode  # pylint: disable=g-import-not-at-top
  examples = {e["video_id"].decode(): e
              for e in _read_split(data_dir, name, "train")}
  frames = decode.decode_video(os.path.join(root, "b/v60.mp4"), fps=30,
                               short_side=32)
  stored = examples["b/v60.mp4"]["video"]
  assert stored.shape == frames.shape
  # JPEG quality 90 on small frames: close, not equal.
  assert np.abs(stored.astype(int) - frames).mean() < 3


def test_class_names_files_have_one_reader(tmp_path, video_tree):
  text = tmp_path / "classes.txt"
  text.write_text("\ufeffwalk\n\nrun\n", encoding="utf-8")
  assert class_names.read_labels_file(text) == ["walk", "run"]
  mapping = tmp_path / "classes.json"
  mapping.write_text('{"run": 1, "walk": 0}')
  assert class_names.read_labels_file(mapping) == ["walk", "run"]
  assert class_names.kinetics400()[:2] == ["abseiling", "air drumming"]
  duplicated = tmp_path / "duplicated.txt"
  duplicated.write_text("walk\nrun\nwalk\n")
  with pytest.raises(ValueError, match="duplicate class names"):
    class_names.read_labels_file(duplicated)
  root, lists = video_tree
  with pytest.raises(prepare.PrepareError,
                     match=f"--classes: {duplicated}: duplicate"):
    prepare.prepare(name="dup", video_dir=root, splits=lists,
                    data_dir=str(tmp_path / "out"), classes_file=duplicated,
                    progress=False)
  assert not (tmp_path / "out").exists()
