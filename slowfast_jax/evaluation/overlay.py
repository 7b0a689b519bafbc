"""Drawing on video frames and writing them as an H.264 video.

The overlays of `predict`: `timeline.write_overlay` (the current top classes
in a corner) and `box_prediction.write_overlay` (person boxes with their top
actions). Frames are RGB uint8 `(height, width, 3)` at the source's size.
"""

import fractions
import os
from typing import Iterable, Sequence

import av
import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

# An RGB uint8 `(h, w, 3)` text box and its alpha `(h, w, 1)` in [0, 1].
Label = tuple[np.ndarray, np.ndarray]


def source_rate(path: str) -> fractions.Fraction:
  """A video's frame rate as PyAV reads it (e.g. 30000/1001)."""
  with av.open(path) as container:
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
  return fractions.Fraction(rate) if rate else fractions.Fraction(30)


def label_image(lines: Sequence[str], frame_height: int) -> Label:
  """White text lines on a translucent black box, sized for the frame."""
  size = max(10, frame_height // 24)  # Font pixels: 45 at 1080p.
  font = ImageFont.load_default(size=size)
  width = max(int(font.getlength(line)) for line in lines) + size
  box = Image.new("RGBA", (width, len(lines) * (size + 3) + size // 2),
                  (0, 0, 0, 160))
  draw = ImageDraw.Draw(box)
  for i, line in enumerate(lines):
    draw.text((size // 2, size // 4 + i * (size + 3)), line,
              fill=(255, 255, 255, 255), font=font)
  array = np.asarray(box)
  return array[..., :3], array[..., 3:] / 255.0


def draw_label(frame: np.ndarray, label: Label, *, top: int = 0,
               left: int = 0) -> np.ndarray:
  """A copy of `frame` with `label` blended in at `(top, left)` (pixels
  inside the frame; the label is cut at the frame's edges)."""
  rgb, alpha = label
  h = min(rgb.shape[0], frame.shape[0] - top)
  w = min(rgb.shape[1], frame.shape[1] - left)
  out = frame.copy()
  region = out[top:top + h, left:left + w].astype(np.float64)
  out[top:top + h, left:left + w] = np.round(
      region * (1 - alpha[:h, :w]) + rgb[:h, :w] * alpha[:h, :w]
  ).astype(np.uint8)
  return out


def draw_box(frame: np.ndarray, box: Sequence[float],
             colour: tuple[int, int, int]) -> np.ndarray:
  """A copy of `frame` with the outline of `box` (x1, y1, x2, y2 in its
  pixels), about 1/150 of the frame's height thick."""
  image = Image.fromarray(frame)
  ImageDraw.Draw(image).rectangle(
      [int(round(v)) for v in box], outline=colour,
      width=max(1, frame.shape[0] // 150))
  return np.asarray(image)


def write_video(frames: Iterable[np.ndarray], path: str,
                rate: fractions.Fraction) -> int:
  """Writes RGB frames as an H.264 mp4 at `rate`; returns the frame count.

  Odd sizes gain one edge row or column (yuv420p needs even sizes). Written
  to a temporary file and renamed, so `path` is never half written.
  """
  partial = f"{path}.partial.mp4"
  count = 0
  with av.open(partial, "w") as container:
    stream = container.add_stream("libx264", rate=rate)
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "20", "preset": "fast"}
    for frame in frames:
      pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
      frame = np.pad(frame, pad, mode="edge")
      if not count:
        stream.height, stream.width = frame.shape[:2]
      video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
      container.mux(stream.encode(video_frame))
      count += 1
    container.mux(stream.encode(None))
  os.replace(partial, path)
  return count
