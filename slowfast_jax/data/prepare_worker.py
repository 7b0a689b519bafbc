"""The per-video work of `prepare`, run in worker processes.

Kept free of TensorFlow so that spawning workers is cheap: decode with PyAV,
resample, resize, encode each frame as JPEG (Pillow, libjpeg-turbo).
"""

import dataclasses
import io

from PIL import Image

from slowfast_jax.data import decode


@dataclasses.dataclass
class Result:
  """What one video became: JPEG frames, or the reason it was skipped."""
  jpegs: list[bytes] | None = None
  height: int = 0
  width: int = 0
  error: str | None = None


def encode_jpeg(frame, quality: int) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
  return buffer.getvalue()


def process_video(path: str, fps: float, short_side: int,
                  jpeg_quality: int) -> Result:
  """Decodes `path` to JPEG frames at `fps`, short side `short_side`.

  Never raises for bad input: the reason is returned in `Result.error`.
  """
  try:
    jpegs = []
    cache = None  # Resampling repeats frames: encode a repeat only once.
    height = width = 0
    for frame in decode.iter_decoded(path, fps=fps, short_side=short_side):
      if cache is None or cache[0] is not frame:
        cache = (frame, encode_jpeg(frame, jpeg_quality))
      jpegs.append(cache[1])
      height, width = frame.shape[:2]
    return Result(jpegs=jpegs, height=height, width=width)
  except decode.VideoDecodeError as e:
    return Result(error=e.reason)
  except Exception as e:  # pylint: disable=broad-except
    # Whatever else a damaged file triggers must not stop the job either.
    return Result(error=f"{type(e).__name__}: {e}")
