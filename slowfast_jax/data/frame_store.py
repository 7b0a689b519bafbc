"""Where a prepared video's frames live: chunks of JPEGs read by byte range.

Each shard of a prepared split has two files: its examples (TFRecord, one
small `tf.train.Example` per video: label, id, number of frames) and its
frames, `frames-SPLIT-0000k-of-0000n.chunks`. A video's frames are
consecutive chunks of that file, each `chunk_frames` frames (the last may be
shorter) serialized as a `tf.train.Example` with one bytes feature `jpegs`.
The example names the file (`frames_file`) and where each of its chunks
starts, plus where the last ends (`chunk_offsets`, bytes).

A clip reads one byte range, the chunks its frames are in, through
`tf.io.gfile` (local paths and `gs://` alike); a resume skips the small
examples without touching the frames. Hand-written rather than ArrayRecord:
its open-source reader opens local files only (google/array_record#120), and
one ranged read per clip is all a clip needs.
"""

import os

import numpy as np
import tensorflow as tf

from slowfast_jax.data import views

CHUNK_FRAMES = 16  # 0.5 s at 30 fps; the 64-frame 8x8 window reads 4-5.
SUFFIX = ".chunks"
_JPEGS = "jpegs"


def file_name(split: str, shard: int, num_shards: int) -> str:
  """The frames file of `split`'s shard `shard` of `num_shards`."""
  return f"frames-{split}-{shard:05d}-of-{num_shards:05d}{SUFFIX}"


def chunk_records(jpegs, chunk_frames: int) -> list[bytes]:
  """A video's JPEG frames as serialized chunks, in order."""
  return [
      tf.train.Example(features=tf.train.Features(feature={
          _JPEGS: tf.train.Feature(bytes_list=tf.train.BytesList(
              value=jpegs[i:i + chunk_frames]))
      })).SerializeToString()
      for i in range(0, len(jpegs), chunk_frames)
  ]


def write_file(path: str, videos,
               chunk_frames: int) -> tuple[list[list[int]], int]:
  """Writes the videos' frames (a list of JPEG lists) to `path` atomically.

  Returns:
    Each video's chunk offsets (the byte where each chunk starts, then where
    the last ends) and the file's size in bytes.
  """
  tmp = f"{path}.tmp-{os.getpid()}"
  offsets, position = [], 0
  with open(tmp, "wb") as f:
    for jpegs in videos:
      video_offsets = [position]
      for record in chunk_records(jpegs, chunk_frames):
        f.write(record)
        position += len(record)
        video_offsets.append(position)
      offsets.append(video_offsets)
  os.replace(tmp, path)
  return offsets, position


def read_chunks(path, offsets) -> np.ndarray:
  """The chunks of the frames file `path` that start at `offsets[:-1]`
  (consecutive; `offsets[-1]` is where the last ends), as a `(chunks,)`
  object array of bytes, read in one range."""
  path = np.asarray(path).item()  # bytes or str, as numpy_function gives.
  path = path.decode() if isinstance(path, bytes) else path
  offsets = [int(o) for o in offsets]
  with tf.io.gfile.GFile(path, "rb") as f:
    f.seek(offsets[0])
    data = f.read(offsets[-1] - offsets[0])
  out = np.empty(len(offsets) - 1, dtype=object)
  out[:] = [data[a - offsets[0]:b - offsets[0]]
            for a, b in zip(offsets[:-1], offsets[1:])]
  return out


def _jpegs_of(records) -> tf.Tensor:
  parsed = tf.io.parse_example(records,
                               {_JPEGS: tf.io.RaggedFeature(tf.string)})
  return parsed[_JPEGS].flat_values


def frame_source(directory, example, chunk_frames: int) -> views.FrameSource:
  """The video of a parsed example (`num_frames`, `frames_file`,
  `chunk_offsets`) in the dataset `directory`, as a `views.FrameSource`
  that reads only the chunks holding the frames asked for (TensorFlow)."""
  path = tf.strings.join([os.fspath(directory), "/", example["frames_file"]])
  offsets = tf.cast(example["chunk_offsets"], tf.int64)

  def fetch(indices):
    indices = tf.cast(indices, tf.int64)
    first = tf.reduce_min(indices) // chunk_frames
    last = tf.reduce_max(indices) // chunk_frames
    records = tf.numpy_function(read_chunks,
                                [path, offsets[first:last + 2]], tf.string,
                                stateful=False)
    records.set_shape([None])
    jpegs = _jpegs_of(records)
    return views.jpeg_source(jpegs).fetch(indices - first * chunk_frames)

  return views.FrameSource(tf.cast(example["num_frames"], tf.int32), fetch)


def read_video(directory, example) -> np.ndarray:
  """All frames of a prepared video, uint8 `(time, height, width, 3)`.

  `example`: the video's example as numpy (e.g. from `tfds`'s
  `as_numpy_iterator`), with `frames_file` and `chunk_offsets`.
  """
  name = example["frames_file"]
  name = name.decode() if isinstance(name, bytes) else name
  records = read_chunks(os.path.join(os.fspath(directory), name),
                        example["chunk_offsets"])
  jpegs = _jpegs_of(tf.constant(list(records), tf.string))
  return np.stack([tf.io.decode_jpeg(j, channels=3).numpy() for j in jpegs])
