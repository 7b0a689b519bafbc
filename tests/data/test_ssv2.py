"""Something-Something v2: prepare, the release's segment sampling and test
view, the label-aware flip on the real templates, and the presets."""

import json
import math
import random

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import jax
from slowfast_jax import validate
from slowfast_jax.convert import target
from slowfast_jax.data import builder
from slowfast_jax.data import flip_labels
from slowfast_jax.data import pipeline
from slowfast_jax.data import prepare
from slowfast_jax.data import sampling
from slowfast_jax.data import ssv2_prepare
from slowfast_jax.data import transforms
from slowfast_jax.data import views

from model_configs import assert_config_fields
from model_configs import load_preset
from model_configs import SSV2_PRESETS
import ssv2_configs
import ssv2_fixtures

NAME = ssv2_configs.NAME
TEMPLATES = ssv2_fixtures.TEMPLATES


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  """The fixture set prepared as the videos are, at 30 fps: `(data_dir,
  summary)`."""
  root = tmp_path_factory.mktemp("ssv2")
  videos = ssv2_fixtures.write_ssv2_set(root)
  data_dir = str(tmp_path_factory.mktemp("ssv2_tfds"))
  summary = ssv2_prepare.prepare_ssv2(
      annotation_dir=str(root), video_dir=str(videos), data_dir=data_dir,
      name=NAME, workers=0, videos_per_shard=4, progress=False)
  return data_dir, summary


def _config(data_dir, **data):
  config = ssv2_configs.get_config()
  config.data.data_dir = data_dir
  config.data.update(data)
  return config


def _examples(data_dir, split):
  ds_builder = tfds.builder_from_directory(builder.version_dir(data_dir, NAME))
  return [{**e, "video": builder.read_video(ds_builder, e)}
          for e in ds_builder.as_dataset(split=split).as_numpy_iterator()]


# ------------------------------------------------------------------ prepare ---


def test_prepare_counts_labels_and_reports_bad_videos(prepared):
  data_dir, summary = prepared
  assert summary.written == {"train": 8, "val": 3}
  assert sorted(row[2] for row in summary.skipped) == sorted(
      ssv2_fixtures.BAD)
  assert summary.exit_code == 2
  with open(summary.report_path) as f:
    rows = {line.split("\t")[2]: line.split("\t")
            for line in f.read().splitlines()[1:]}
  assert "file not found" in rows["110.webm"][3]
  assert rows["109.webm"][1].endswith("something-something-v2-train.json[8]")

  info = pipeline.dataset_info(_config(data_dir))
  assert info.class_names == TEMPLATES and len(TEMPLATES) == 174
  annotations = {**ssv2_fixtures.TRAIN, **ssv2_fixtures.VALIDATION}
  seen = set()
  for split, ids in (("train", ssv2_fixtures.TRAIN),
                     ("val", ssv2_fixtures.VALIDATION)):
    for example in _examples(data_dir, split):
      video_id = example["video_id"].decode().removesuffix(".webm")
      assert video_id in ids
      seen.add(video_id)
      assert example["label"] == ssv2_fixtures.class_of(annotations[video_id])
      # 12-fps sources stored at 30 fps, at their own size.
      seconds = ssv2_fixtures.SHORT.get(video_id, ssv2_fixtures.SECONDS)
      assert len(example["video"]) == round(30 * seconds)
      assert example["video"].shape[1:] == (ssv2_fixtures.HEIGHT,
                                            ssv2_fixtures.WIDTH, 3)
  assert seen == {i for i in annotations
                  if f"{i}.webm" not in ssv2_fixtures.BAD}
  # The template's brackets go, as the release looks templates up.
  assert TEMPLATES[93] == "Pushing something from left to right"
  assert ssv2_fixtures.class_of(ssv2_fixtures.PUSH_LR) == 93


def _write(path, content):
  path.write_text(json.dumps(content))
  return path


def test_bad_annotations_stop_before_anything_is_written(tmp_path):
  labels = _write(tmp_path / ssv2_prepare.LABELS_FILE,
                  {"Opening something": "0", "Closing something": "1"})
  index = {"Opening something": 0, "Closing something": 1}
  unknown = _write(tmp_path / "a.json", [
      {"id": "1", "template": "Opening [something]"},
      {"id": "2", "template": "Folding [something]"}])
  with pytest.raises(prepare.PrepareError,
                     match=r"a.json\[1\]: template 'Folding something' is "
                     "not in the labels file"):
    ssv2_prepare.read_annotations(unknown, index)
  test_set = _write(tmp_path / "test.json", [{"id": "3"}])
  with pytest.raises(prepare.PrepareError, match=r"test.json\[0\]: no "
                     "template \\(the test set's file has no labels"):
    ssv2_prepare.read_annotations(test_set, index)
  with pytest.raises(prepare.PrepareError, match=r"b.json\[0\]: no video id"):
    ssv2_prepare.read_annotations(_write(tmp_path / "b.json", [{}]), index)
  assert ssv2_prepare.read_labels(labels) == ["Opening something",
                                              "Closing something"]
  twice = _write(tmp_path / "twice.json", {"A": "0", "B": "0"})
  with pytest.raises(prepare.PrepareError, match="'B': index '0' is not a "
                     "new number from 0 to 1"):
    ssv2_prepare.read_labels(twice)
  data_dir = tmp_path / "tfds"
  with pytest.raises(prepare.PrepareError, match="not in the labels file"):
    ssv2_prepare.prepare_ssv2(
        annotation_dir=str(tmp_path), video_dir=str(tmp_path),
        data_dir=str(data_dir), splits={"train": "a.json"}, progress=False)
  assert not data_dir.exists()


# ----------------------------------------------------------------- sampling ---


def release_seq(video_length, num_frames, mode, randint=random.randint):
  """The release's `Ssv2.get_seq_frames` (datasets/ssv2.py), transcribed."""
  seg_size = float(video_length - 1) / num_frames
  seq = []
  for i in range(num_frames):
    start = int(np.round(seg_size * i))
    end = int(np.round(seg_size * (i + 1)))
    if mode == "train":
      seq.append(randint(start, end))
    else:
      seq.append((start + end) // 2)
  return seq


@pytest.mark.parametrize("num_frames", [8, 16, 64])
def test_segments_and_test_frames_are_the_releases(num_frames):
  lengths = list(range(1, 160)) + [200, 297, 301, 1000]
  for length in lengths:
    want = release_seq(length, num_frames, "test")
    np.testing.assert_array_equal(
        sampling.ssv2_test_indices_np(length, num_frames), want)
    np.testing.assert_array_equal(
        sampling.ssv2_test_indices_tf(length, num_frames).numpy(), want)
    bounds = release_seq(length, num_frames, "train", lambda a, b: (a, b))
    first, last = sampling.ssv2_segment_bounds_np(length, num_frames)
    np.testing.assert_array_equal(np.stack([first, last], 1), bounds)


def test_training_frames_are_uniform_within_each_segment():
  length, num_frames = 37, 8  # Segments of 4.5 frames: 4 to 6 frames each.
  first, last = sampling.ssv2_segment_bounds_np(length, num_frames)
  draws = np.stack([
      sampling.ssv2_train_indices_tf(length, num_frames,
                                     tf.constant([s, 1], tf.int64)).numpy()
      for s in range(300)])
  assert (draws >= first).all() and (draws <= last).all()
  for i in range(num_frames):  # Both ends in, as random.randint.
    assert set(draws[:, i]) == set(range(first[i], last[i] + 1)), i


def test_validation_clips_take_the_test_frames():
  kwargs = dict(num_frames=8, sampling_rate=2, target_fps=30.0, fps=30.0,
                seed=tf.constant([0, 0], tf.int64), clip_sampling="ssv2")
  val = views.train_indices(tf.constant(45), mode="val", **kwargs)
  np.testing.assert_array_equal(val, release_seq(45, 8, "val"))
  test = views.test_indices(tf.constant(45), num_frames=8, sampling_rate=2,
                            num_clips=2, target_fps=30.0, fps=12.0,
                            clip_sampling="ssv2")
  np.testing.assert_array_equal(test, [release_seq(45, 8, "test")] * 2)


def test_the_test_view_is_the_first_crop_of_the_segment_middles(prepared):
  """Release (datasets/ssv2.py, 1 crop): short side to TEST_CROP_SIZE, then
  spatial index 0 (the left crop of a landscape frame)."""
  data_dir, _ = prepared
  examples = {e["video_id"]: e for e in _examples(data_dir, "val")}
  # Kinetics' single crop: the centre, short side train_jitter_scales[0].
  for single_crop, crop in (("first", 40), ("center", 32)):
    config = _config(data_dir, single_test_crop=single_crop,
                     test_crop_size=crop)
    batch = next(pipeline.make_eval_dataset(
        config, "val", num_clips=1, num_crops=1, batch_size=4,
        random_view=False).as_numpy_iterator())
    short_side = views.test_short_side(config.data, 1)
    assert short_side == (40 if single_crop == "first" else 32)
    for row in range(3):
      video = examples[batch["video_id"][row]]["video"]  # Decoded.
      frames = video[sampling.ssv2_test_indices_np(len(video), 8)]
      resized = transforms.resize_short_side(frames, short_side).numpy()
      x = 0 if single_crop == "first" else (resized.shape[2] - crop + 1) // 2
      assert resized.shape[1] == crop and resized.shape[2] > crop
      np.testing.assert_array_equal(batch["video"][row],
                                    resized[:, :, x:x + crop])


# --------------------------------------------------------- label-aware flip ---


def test_label_aware_flip_swaps_exactly_the_mirror_templates():
  perm = flip_labels.flip_permutation(TEMPLATES)
  np.testing.assert_array_equal(perm[perm], np.arange(174))  # Involution.
  swapped = {int(i): int(perm[i]) for i in np.flatnonzero(perm != np.arange(
      174))}
  assert swapped == {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}
  assert flip_labels.flip_pairs(TEMPLATES) == [
      ("Pulling something from left to right",
       "Pulling something from right to left"),
      ("Pushing something from left to right",
       "Pushing something from right to left"),
      ("Turning the camera left while filming something",
       "Turning the camera right while filming something")]
  # "right" that names no direction, and words containing it, stay.
  plug = TEMPLATES.index(
      "Plugging something into something but pulling it right out as you "
      "remove your hand")
  upright = TEMPLATES.index("Putting something upright on the table")
  assert perm[plug] == plug and perm[upright] == upright
  assert flip_labels.mirror_name("Left_fast / RIGHT, upright") == \
      "Right_fast / LEFT, upright"
  assert list(flip_labels.flip_permutation(
      ["right_slow", "left_slow", "up_slow", "downright"])) == [1, 0, 2, 3]


def _train_clips(config, steps=6):
  ds = pipeline.make_train_dataset(config)
  batches = [b for _, b in zip(range(steps), ds.as_numpy_iterator())]
  return (np.concatenate([b["video"] for b in batches]),
          np.concatenate([b["label"] for b in batches]))


def _ramp(clips):
  """Mean grey level of each clip's right quarter minus its left quarter."""
  width = clips.shape[3]
  mean = clips.astype(np.float64).mean(axis=(1, 2, 4))
  return mean[:, -width // 4:].mean(1) - mean[:, :width // 4].mean(1)


def _consistent(clips, labels):
  """Whether each clip's label has its content's direction (`RAMP`)."""
  ramp = _ramp(clips)
  want = np.asarray([ssv2_fixtures.RAMP.get(ssv2_fixtures.TEMPLATES[i], 0)
                     for i in labels])
  want = np.where(np.isin(labels, [87, 94, 167]), -1, want)  # Mirrors.
  want = np.where(np.isin(labels, [86, 93, 166]), 1, want)
  return np.where(want == 0, np.abs(ramp) < 4, want * ramp > 8)


def test_label_aware_flip_gives_flipped_clips_their_mirror_class(prepared):
  """Training videos show "left to right" only, with a brightness ramp in
  the direction of their motion; a clip's label must match its ramp."""
  data_dir, _ = prepared
  clips, labels = _train_clips(_config(data_dir))  # The preset: no flip.
  assert _consistent(clips, labels).all() and 94 not in labels

  clips, labels = _train_clips(_config(data_dir, random_flip=True,
                                       label_aware_flip=True))
  assert _consistent(clips, labels).all()
  assert {93, 94, 166, 167} <= set(labels)  # Flipped and not.

  clips, labels = _train_clips(_config(data_dir, random_flip=True))
  assert not _consistent(clips, labels).all()  # Plain flip: wrong labels.
  assert 94 not in labels

  config = _config(data_dir, random_flip=True, label_aware_flip=True)
  batch = next(pipeline.make_eval_dataset(
      config, "val", num_clips=1, num_crops=1, batch_size=4,
      random_view=True).as_numpy_iterator())
  assert _consistent(batch["video"][:3], batch["label"][:3]).all()


def test_label_aware_flip_needs_flips_and_single_labels(prepared):
  data_dir, _ = prepared
  config = _config(data_dir, label_aware_flip=True)
  with pytest.raises(validate.ConfigError, match="label_aware_flip"):
    validate.validate_data(config)
  config.data.random_flip = True
  validate.validate_data(config)


# ------------------------------------------------------------------ presets ---


# The release's configs/SSv2/SLOWFAST_16x8_R50{,_multigrid}.yaml.
RELEASE_YAML = {
    ("model", "num_classes"): 174, ("model", "num_frames"): 64,
    ("model", "alpha"): 4, ("model", "beta_inv"): 8,
    ("model", "fusion_conv_channel_ratio"): 2, ("model", "fusion_kernel"): 7,
    ("model", "depth"): 50, ("model", "dropout_rate"): 0.5,
    ("model", "train_crop_size"): 224, ("model", "bn_group_size"): 8,
    ("data", "sampling_rate"): 2, ("data", "train_jitter_scales"): [256, 320],
    ("data", "train_crop_size"): 224, ("data", "multi_label"): False,
    ("data", "inv_uniform_sample"): True, ("data", "random_flip"): False,
    ("data", "label_aware_flip"): False, ("data", "bgr"): True,
    ("data", "clip_sampling"): "ssv2", ("data", "single_test_crop"): "first",
    ("data", "target_fps"): 30.0,
    ("data", "mean"): [0.45] * 3, ("data", "std"): [0.225] * 3,
    ("optim", "base_lr"): 0.03, ("optim", "base_batch_size"): 16,
    ("optim", "lr_policy"): "steps_with_relative_lrs",
    ("optim", "steps"): (0, 14, 18),
    ("optim", "lrs"): (1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001),
    ("optim", "momentum"): 0.9, ("optim", "weight_decay"): 1e-6,
    ("optim", "warmup_epochs"): 0.19, ("optim", "warmup_start_lr"): 0.0001,
    ("eval", "num_clips"): 1, ("eval", "num_crops"): 1,
    ("eval", "batch_size"): 16, ("eval", "ensemble"): "sum",
    ("precise_bn", "enabled"): True, ("precise_bn", "num_batches"): 200,
    (None, "global_batch_size"): 16, (None, "num_epochs"): 22,
    (None, "eval_every_epochs"): 2, (None, "init_head"): "reinit",
}


@pytest.mark.parametrize("preset", SSV2_PRESETS)
def test_presets_carry_the_release_yaml(preset):
  assert SSV2_PRESETS == ["ssv2_slowfast_16x8_r50",
                          "ssv2_slowfast_16x8_r50_multigrid"]
  config = load_preset(preset)
  assert_config_fields(config, RELEASE_YAML)
  multigrid = preset.endswith("_multigrid")
  assert config.data.test_crop_size == (224 if multigrid else 256)
  assert config.multigrid.short_cycle == config.multigrid.long_cycle == \
      multigrid
  # The Kinetics SlowFast 8×8 R50's count with a 174-class classifier.
  params = target.abstract_variables(config.model)["params"]
  count = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params))
  assert count == 34_566_488 + (2304 * 174 + 174) - (2304 * 400 + 400)
  validate.validate_model(config.model)
  validate.validate_schedule(config)
  validate.validate_multigrid(config, device_count=8)
