"""Where a prepared video's frames live: chunks of JPEGs in ArrayRecord files.

Each shard of a prepared split has two files: its examples (TFRecord, one
small `tf.train.Example` per video: label, id, number of frames) and its
frames, `frames-SPLIT-0000k-of-0000n.array_record`. A video's frames are
consecutive records of that file, each a chunk of `chunk_frames` frames
(the last may be shorter), stored as a `tf.train.Example` with one bytes
feature `jpegs`. The example names the file (`frames_file`) and the video's
first record (`first_record`).

A clip reads only the chunks its frames are in: ArrayRecord gives random
access by record number (written with group size 1 and no compression, so a
record is read alone; JPEGs do not compress further). A resume skips the
small examples without touching the frames.
"""

import collections
import os
import threading

import numpy as np
import tensorflow as tf

from slowfast_jax.data import views

CHUNK_FRAMES = 16  # 0.5 s at 30 fps; the 64-frame 8x8 window reads 4-5.
_WRITER_OPTIONS = "group_size:1,uncompressed"
_READER_OPTIONS = "readahead_buffer_size:0"  # Random access, no read-ahead.
_MAX_OPEN_FILES = 64
_JPEGS = "jpegs"


def file_name(split: str, shard: int, num_shards: int) -> str:
  """The frames file of `split`'s shard `shard` of `num_shards`."""
  return f"frames-{split}-{shard:05d}-of-{num_shards:05d}.array_record"


def chunk_records(jpegs, chunk_frames: int) -> list[bytes]:
  """A video's JPEG frames as serialized chunk records, in order."""
  return [
      tf.train.Example(features=tf.train.Features(feature={
          _JPEGS: tf.train.Feature(bytes_list=tf.train.BytesList(
              value=jpegs[i:i + chunk_frames]))
      })).SerializeToString()
      for i in range(0, len(jpegs), chunk_frames)
  ]


def write_file(path: str, videos, chunk_frames: int) -> tuple[list[int], int]:
  """Writes the videos' frames (a list of JPEG lists) to `path` atomically.

  Returns:
    Each video's first record and the file's size in bytes.
  """
  # pylint: disable=g-import-not-at-top
  from array_record.python import array_record_module
  tmp = f"{path}.tmp-{os.getpid()}"
  writer = array_record_module.ArrayRecordWriter(tmp, _WRITER_OPTIONS)
  first_records, count = [], 0
  try:
    for jpegs in videos:
      first_records.append(count)
      for record in chunk_records(jpegs, chunk_frames):
        writer.write(record)
        count += 1
  finally:
    writer.close()
  os.replace(tmp, path)
  return first_records, os.path.getsize(path)


class _Readers:
  """Open readers of the most recently read files (shared by threads)."""

  def __init__(self, max_open: int):
    self._max_open = max_open
    self._open = collections.OrderedDict()
    self._lock = threading.Lock()

  def get(self, path: str):
    # pylint: disable=g-import-not-at-top
    from array_record.python import array_record_module
    with self._lock:
      reader = self._open.get(path)
      if reader is not None:
        self._open.move_to_end(path)
        return reader
    reader = array_record_module.ArrayRecordReader(path, _READER_OPTIONS)
    with self._lock:
      self._open[path] = reader
      while len(self._open) > self._max_open:
        self._open.popitem(last=False)  # Closed when no thread holds it.
    return reader


_READERS = _Readers(_MAX_OPEN_FILES)


def read_records(path, first, count) -> np.ndarray:
  """Records `first` ... `first + count - 1` of the frames file `path`,
  as a `(count,)` object array of bytes."""
  path = np.asarray(path).item()  # bytes or str, as numpy_function gives.
  if isinstance(path, bytes):
    path = path.decode()
  records = _READERS.get(path).read(list(range(int(first),
                                               int(first) + int(count))))
  out = np.empty(len(records), dtype=object)
  out[:] = records
  return out


def _jpegs_of(records) -> tf.Tensor:
  parsed = tf.io.parse_example(records,
                               {_JPEGS: tf.io.RaggedFeature(tf.string)})
  return parsed[_JPEGS].flat_values


def frame_source(directory, example, chunk_frames: int) -> views.FrameSource:
  """The video of a parsed example (`num_frames`, `frames_file`,
  `first_record`) in the dataset `directory`, as a `views.FrameSource`
  that reads only the chunks holding the frames asked for (TensorFlow)."""
  path = tf.strings.join([os.fspath(directory), "/", example["frames_file"]])
  first_record = tf.cast(example["first_record"], tf.int64)

  def fetch(indices):
    indices = tf.cast(indices, tf.int64)
    first = tf.reduce_min(indices) // chunk_frames
    last = tf.reduce_max(indices) // chunk_frames
    records = tf.numpy_function(read_records,
                                [path, first_record + first, last - first + 1],
                                tf.string, stateful=False)
    records.set_shape([None])
    jpegs = _jpegs_of(records)
    return views.jpeg_source(jpegs).fetch(indices - first * chunk_frames)

  return views.FrameSource(tf.cast(example["num_frames"], tf.int32), fetch)


def read_video(directory, example, chunk_frames: int) -> np.ndarray:
  """All frames of a prepared video, uint8 `(time, height, width, 3)`.

  `example`: the video's example as numpy (e.g. from `tfds`'s
  `as_numpy_iterator`), with `num_frames`, `frames_file` and `first_record`.
  """
  name = example["frames_file"]
  name = name.decode() if isinstance(name, bytes) else name
  count = -(-int(example["num_frames"]) // chunk_frames)
  records = read_records(os.path.join(os.fspath(directory), name),
                         example["first_record"], count)
  jpegs = _jpegs_of(tf.constant(list(records), tf.string))
  return np.stack([tf.io.decode_jpeg(j, channels=3).numpy() for j in jpegs])
