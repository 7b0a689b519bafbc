"""Sliding windows over long videos, and a model run over all of them.

A video decoded at `fps` frames per second (`decode.iter_decoded`) has `L`
frames. With windows of `W` frames every `S` frames (`S = stride_seconds *
fps`, not necessarily an integer) and a model that takes `T` frames:

  count    = floor((L - W) / S) + 1            if L >= W, else 1
  start_w  = floor(w * S + 1/2)                w = 0 .. count - 1
  frames_w = long(linspace(start_w, start_w + W - 1, T))   (W == T: all W)
  seconds  = [start_w / fps, min(start_w + W, L) / fps)

The frames of a window are the release's clip indices
(`sampling.clip_indices_np`), so `W = T * sampling_rate` gives the clips the
model was trained on, and `W = T` feeds every frame. A video shorter than one
window gives one window whose indices are clamped to its last frame (the
release's rule); frames after the last window are not covered. Windows are
cut while decoding (`iter_windows`): only the frames of windows not yet
complete are held, so hour-long videos need memory for about one window.

`iter_video_outputs` runs a function (model features, class scores) over the
windows of many videos in fixed-size batches, decoding in a background thread
so decoding and the model run at the same time.
"""

import dataclasses
import math
import queue
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence

import av
import numpy as np

from slowfast_jax.data import decode
from slowfast_jax.data import sampling
from slowfast_jax.data import transforms

CROPS = ("center", "full")
# Tolerance of the window-fit test, in frames: `S = 16 / 30 * 30` must not
# lose a window to rounding.
_EPS = 1e-6


@dataclasses.dataclass(frozen=True)
class WindowSpec:
  """How windows are cut from a video.

  Attributes:
    window_frames: W, frames (at `fps`) a window spans.
    stride_frames: S, frames between window starts (may be fractional).
    clip_frames: T, frames the model takes from a window
      (`config.model.num_frames`).
    fps: frame rate the video is decoded at.
    short_side: the frames' short side after resizing.
    crop: "center" (a square `crop_size` crop at the release's centre
      offset) or "full" (the whole resized frame).
    crop_size: side of the centre crop.
  """
  window_frames: int
  stride_frames: float
  clip_frames: int
  fps: float
  short_side: int
  crop: str = "center"
  crop_size: int = 256

  def __post_init__(self):
    if self.window_frames < 1 or self.clip_frames < 1:
      raise ValueError(f"window_frames={self.window_frames} and clip_frames="
                       f"{self.clip_frames} must be positive.")
    if not self.stride_frames > 0 or not self.fps > 0:
      raise ValueError(f"stride ({self.stride_frames} frames) and fps "
                       f"({self.fps}) must be positive.")
    if self.crop not in CROPS:
      raise ValueError(f"crop={self.crop!r}; expected one of {CROPS}.")
    if self.crop == "center" and self.crop_size > self.short_side:
      raise ValueError(f"crop_size={self.crop_size} is larger than "
                       f"short_side={self.short_side}.")


def _fits(w: int, num_frames: int, spec: WindowSpec) -> bool:
  """Whether window `w` lies within the first `num_frames` frames."""
  return w * spec.stride_frames <= num_frames - spec.window_frames + _EPS


def window_count(num_frames: int, spec: WindowSpec) -> int:
  """Windows of a video of `num_frames` frames (1 if shorter than one)."""
  if num_frames < 1:
    raise ValueError(f"A video with {num_frames} frames has no windows.")
  if num_frames < spec.window_frames:
    return 1
  slack = num_frames - spec.window_frames + _EPS
  return int(math.floor(slack / spec.stride_frames)) + 1


def start_frame(w: int, spec: WindowSpec) -> int:
  """First frame of window `w`: `floor(w * S + 1/2)`."""
  return int(math.floor(w * spec.stride_frames + 0.5))


def window_frames_and_times(num_frames: int, spec: WindowSpec
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """`(start_frame, start_seconds, end_seconds)`, each `(windows,)`."""
  starts = np.array([start_frame(w, spec)
                     for w in range(window_count(num_frames, spec))])
  ends = np.minimum(starts + spec.window_frames, num_frames)
  return starts, starts / spec.fps, ends / spec.fps


def crop_frame(frame: np.ndarray, spec: WindowSpec) -> np.ndarray:
  """A resized frame `(height, width, 3)` → the window's view of it."""
  if spec.crop == "full":
    return frame
  height, width = frame.shape[:2]
  y, x = transforms.uniform_crop_offsets(height, width, spec.crop_size, 1)
  return frame[y:y + spec.crop_size, x:x + spec.crop_size]


@dataclasses.dataclass
class Window:
  """One window: `clip` uint8 `(T, height, width, 3)`, frames [start, end)."""
  index: int
  start: int
  end: int
  clip: np.ndarray


def iter_windows(frames: Iterable[np.ndarray], spec: WindowSpec
                 ) -> Iterator[Window]:
  """Windows of a stream of frames, each as soon as its last frame arrives.

  Args:
    frames: uint8 `(height, width, 3)` frames at `spec.fps`, resized.
    spec: the windows.

  Yields:
    `window_count(L, spec)` windows in order, `clip` cropped by `crop_frame`.
  """
  held = {}  # Frame index -> cropped frame, for windows not yet cut.
  w = n = 0
  for frame in frames:
    if n >= start_frame(w, spec):
      held[n] = crop_frame(frame, spec)
    n += 1
    while _fits(w, n, spec):
      yield _cut(w, held, n, spec)
      w += 1
      for k in [k for k in held if k < start_frame(w, spec)]:
        del held[k]
  if w == 0 and n:  # Shorter than one window.
    yield _cut(0, held, n, spec)


def _cut(w: int, held: dict[int, np.ndarray], num_frames: int,
         spec: WindowSpec) -> Window:
  start = start_frame(w, spec)
  indices = sampling.clip_indices_np(start, spec.window_frames,
                                     spec.clip_frames, num_frames)
  clip = np.stack([held[int(i)] for i in indices])
  return Window(w, start, min(start + spec.window_frames, num_frames), clip)


@dataclasses.dataclass
class VideoOutputs:
  """A function's outputs on every window of one video.

  `outputs` `(windows, ...)`; `start_frames`, `end_frames` `(windows,)`
  int, frames at `spec.fps`; `num_frames` decoded frames.
  """
  path: str
  outputs: np.ndarray
  start_frames: np.ndarray
  end_frames: np.ndarray
  num_frames: int
  spec: WindowSpec

  @property
  def start_seconds(self) -> np.ndarray:
    return self.start_frames / self.spec.fps

  @property
  def end_seconds(self) -> np.ndarray:
    return self.end_frames / self.spec.fps


@dataclasses.dataclass
class VideoFailure:
  """A video that could not be decoded: `reason` is one line."""
  path: str
  reason: str


@dataclasses.dataclass
class _Batch:
  path: str
  windows: list[Window]


@dataclasses.dataclass
class _End:
  path: str
  num_frames: int


# Errors that make one file bad; the run goes on with the next.
FILE_ERRORS = (decode.VideoDecodeError, OSError, av.FFmpegError)


def _decoded_batches(paths: Iterable[str], spec: WindowSpec,
                     batch_size: int) -> Iterator[Any]:
  """Per video: `_Batch`es of windows, then `_End` (or one `VideoFailure`)."""
  for path in paths:
    counted = 0

    def frames(path=path):
      nonlocal counted
      for frame in decode.iter_decoded(path, fps=spec.fps,
                                       short_side=spec.short_side):
        counted += 1
        yield frame

    batch = []
    try:
      for window in iter_windows(frames(), spec):
        batch.append(window)
        if len(batch) == batch_size:
          yield _Batch(path, batch)
          batch = []
      if batch:
        yield _Batch(path, batch)
      yield _End(path, counted)
    except FILE_ERRORS as error:
      yield VideoFailure(path, one_line_reason(error, path))


def one_line_reason(error: Exception, path: str) -> str:
  """The error's message without the leading path, on one line."""
  if isinstance(error, decode.VideoDecodeError):
    message = error.reason
  else:
    message = f"{type(error).__name__}: {error}"
    message = message.replace(f"{path}: ", "")
  return " ".join(message.split())


def prefetch(items: Iterator[Any], size: int) -> Iterator[Any]:
  """`items`, produced by a background thread up to `size` ahead.

  An exception in the producer is raised here; closing this generator stops
  the producer.
  """
  buffer: queue.Queue = queue.Queue(maxsize=size)
  stop = threading.Event()
  done = object()

  def put(item) -> bool:
    while not stop.is_set():
      try:
        buffer.put(item, timeout=0.1)
        return True
      except queue.Full:
        continue
    return False

  def produce():
    try:
      for item in items:
        if not put((None, item)):
          return
      put((None, done))
    except BaseException as error:  # pylint: disable=broad-except
      put((error, None))

  thread = threading.Thread(target=produce, daemon=True, name="decode")
  thread.start()
  try:
    while True:
      error, item = buffer.get()
      if error is not None:
        raise error
      if item is done:
        return
      yield item
  finally:
    stop.set()


def pad_batch(clips: np.ndarray, batch_size: int) -> np.ndarray:
  """`(n, ...)` → `(batch_size, ...)` with zero rows appended."""
  pad = np.zeros((batch_size - len(clips),) + clips.shape[1:], clips.dtype)
  return np.concatenate([clips, pad]) if len(pad) else clips


def iter_video_outputs(paths: Sequence[str], spec: WindowSpec,
                       apply: Callable[[np.ndarray], Any], *,
                       batch_size: int, prefetch_batches: int = 4
                       ) -> Iterator[VideoOutputs | VideoFailure]:
  """Runs `apply` on every window of every video, in order.

  Args:
    paths: video files.
    spec: the windows.
    apply: uint8 clips `(batch_size, T, height, width, 3)` (padded with zero
      rows) → an array `(batch_size, ...)`; may return a JAX array, read
      back after the next batch is dispatched (two batches in flight).
    batch_size: windows per call.
    prefetch_batches: batches decoded ahead by the decode thread.

  Yields:
    Per video, `VideoOutputs` or (undecodable file) `VideoFailure`.
  """
  pending = []  # (output of apply, rows), not yet read back.
  outputs = []  # Read back, of the current video.
  windows: list[Window] = []
  for item in prefetch(_decoded_batches(paths, spec, batch_size),
                       prefetch_batches):
    if isinstance(item, _Batch):
      clips = np.stack([w.clip for w in item.windows])
      pending.append((apply(pad_batch(clips, batch_size)), len(clips)))
      windows.extend(item.windows)
      if len(pending) > 1:  # At most two batches in flight on the device.
        out, rows = pending.pop(0)
        outputs.append(np.asarray(out)[:rows])
      continue
    outputs += [np.asarray(out)[:rows] for out, rows in pending]
    pending = []
    if isinstance(item, _End):
      yield VideoOutputs(
          item.path, np.concatenate(outputs),
          np.array([w.start for w in windows]),
          np.array([w.end for w in windows]), item.num_frames, spec)
    else:
      yield item
    windows, outputs = [], []


def spec_from_config(config, *, window_frames: int | None = None,
                     stride_seconds: float | None = None,
                     stride_frames: float | None = None,
                     fps: float | None = None, crop: str = "center",
                     short_side: int | None = None,
                     crop_size: int | None = None) -> WindowSpec:
  """A `WindowSpec` for a full config (`model`, `data`); None = default.

  Defaults: windows of the clip the model was trained on
  (`model.num_frames * data.sampling_rate` frames at `data.target_fps`),
  half-overlapping; the release's single-crop test view (short side
  `data.train_jitter_scales[0]`, centre crop `data.test_crop_size`). The
  stride is given in seconds or in frames, not both.
  """
  from slowfast_jax.data import views  # pylint: disable=g-import-not-at-top
  if stride_seconds is not None and stride_frames is not None:
    raise ValueError(f"Give the stride in seconds ({stride_seconds}) or in "
                     f"frames ({stride_frames}), not both.")
  fps = float(fps or config.data.target_fps)
  window_frames = int(window_frames or
                      config.model.num_frames * config.data.sampling_rate)
  if stride_seconds is not None:
    stride_frames = stride_seconds * fps
  elif stride_frames is None:
    stride_frames = window_frames / 2
  crop_size = int(crop_size or config.data.test_crop_size)
  short_side = int(short_side or views.test_short_side(config.data, 1))
  return WindowSpec(window_frames=window_frames,
                    stride_frames=float(stride_frames),
                    clip_frames=int(config.model.num_frames), fps=fps,
                    short_side=short_side, crop=crop, crop_size=crop_size)
