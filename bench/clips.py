"""Videos made in code: known people's faces moving across a scene, as a phone records them.

Used by the video tests (small clips) and bench/videos.py (720p to 4K). Each person is a photo
of them (a "sprite", the photo itself or a crop around the face) pasted into every frame of the
seconds they are in the clip, gliding along a straight line and growing or shrinking a little;
the background is a smooth made-up scene with a little sensor noise in every frame, so that the
encoder spends bits as on a real clip rather than on a still. Written through PyAV (FFmpeg's
libx264 and libx265 are in its wheels), with a keyframe every ``keyframe_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

CODECS = {"h264": "libx264", "hevc": "libx265"}


@dataclass(frozen=True)
class Appearance:
    """One person in a clip: their sprite, when they are seen, and where (fractions of the
    upright frame: the sprite's centre from ``start_xy`` to ``end_xy``, its height from
    ``start_height`` to ``end_height``)."""

    person: str
    sprite: np.ndarray  # RGB
    start: float
    end: float
    start_xy: tuple[float, float] = (0.3, 0.5)
    end_xy: tuple[float, float] = (0.7, 0.5)
    start_height: float = 0.4
    end_height: float = 0.45

    def placement(self, t: float, width: int, height: int) -> tuple[int, int, int, int] | None:
        """``(x, y, w, h)`` of the sprite at time ``t`` in an upright frame, or None if unseen."""
        if not self.start <= t < self.end:
            return None
        k = (t - self.start) / max(1e-9, self.end - self.start)
        cx = (self.start_xy[0] + k * (self.end_xy[0] - self.start_xy[0])) * width
        cy = (self.start_xy[1] + k * (self.end_xy[1] - self.start_xy[1])) * height
        h = round((self.start_height + k * (self.end_height - self.start_height)) * height)
        w = round(h * self.sprite.shape[1] / self.sprite.shape[0])
        x = int(np.clip(round(cx - w / 2), 0, max(0, width - w)))
        y = int(np.clip(round(cy - h / 2), 0, max(0, height - h)))
        return x, y, min(w, width), min(h, height)


def scene(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth made-up scene: a coloured gradient with soft blobs (no faces in it)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            90 + 60 * xs / width,
            110 + 40 * ys / height,
            140 - 50 * xs / width,
        ],
        axis=-1,
    )
    for _ in range(12):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.05, 0.2) * max(width, height)
        colour = rng.uniform(-60, 60, 3)
        base += colour * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius**2))[..., None]
    return np.clip(base, 0, 255).astype(np.uint8)


def frame_at(
    t: float, background: np.ndarray, appearances: list[Appearance], noise: np.ndarray | None = None
) -> np.ndarray:
    """The upright frame at time ``t``."""
    import cv2

    frame = background.copy()
    height, width = frame.shape[:2]
    for appearance in appearances:
        placed = appearance.placement(t, width, height)
        if placed is None:
            continue
        x, y, w, h = placed
        sprite = cv2.resize(appearance.sprite, (w, h), interpolation=cv2.INTER_AREA)
        frame[y : y + h, x : x + w] = sprite
    if noise is not None:
        frame = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return frame


def write_clip(
    path: str,
    appearances: list[Appearance],
    width: int = 640,
    height: int = 360,
    seconds: float = 4.0,
    fps: int = 30,
    codec: str = "h264",
    keyframe_seconds: float = 2.0,
    rotation: int = 0,
    bitrate: int | None = None,
    crf: int = 23,
    preset: str = "veryfast",
    noise: float = 2.0,
    seed: int = 0,
    first_timestamp: float = 0.0,
) -> None:
    """Write a clip of ``width`` x ``height`` (upright) to ``path`` (the container by its suffix).

    With ``rotation`` (degrees counter-clockwise, as a phone held upright records), the frames
    are stored turned the other way and the container's display matrix says to turn them back,
    as phones do for portrait video: a reader that ignores it sees faces on their side.
    ``noise`` is the sensor noise's standard deviation in grey levels: with ``bitrate``, what
    the encoder spends the bits on (2: about 0.3 Mbit/s at 1080p with crf 23, a still's rate).
    ``first_timestamp`` (seconds) starts the frames' timestamps there, as a camcorder's MPEG-TS
    files do (a player still shows the first frame at 0:00).
    """
    import av

    rng = np.random.default_rng(seed)
    background = scene(width, height, seed)
    turns = (rotation // 90) % 4
    stored_w, stored_h = (height, width) if turns % 2 else (width, height)
    gop = max(1, round(keyframe_seconds * fps))
    # A few noise fields reused in turn: fresh noise per frame costs more than the encoding.
    noises = [rng.normal(0, noise, (height, width, 3)).astype(np.int16) for _ in range(8)]
    with av.open(path, "w") as container:
        stream = container.add_stream(CODECS[codec], rate=fps)
        stream.width, stream.height, stream.pix_fmt = stored_w, stored_h, "yuv420p"
        stream.codec_context.gop_size = gop
        # A phone's bitrate (``bitrate``, bits per second), or a constant quality (``crf``).
        rate = {"b": str(bitrate)} if bitrate else {"crf": str(crf)}
        if codec == "h264":
            stream.options = {**rate, "preset": preset, "x264-params": f"keyint={gop}:scenecut=0"}
        else:
            stream.options = {
                **rate,
                "preset": preset,
                "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error",
            }
        if turns:
            stream.set_display_rotation(rotation)
        for index in range(round(seconds * fps)):
            upright = frame_at(index / fps, background, appearances, noises[index % len(noises)])
            # Stored turned back: displaying it turns it ``rotation`` degrees counter-clockwise.
            stored = np.ascontiguousarray(np.rot90(upright, -turns)) if turns else upright
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts = index + round(first_timestamp * fps)
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
