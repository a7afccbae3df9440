"""Faces in videos: seconds of work per minute of video and people found, against decoding every frame.

    .venv/bin/python bench/videos.py [--datasets ../shared/datasets] [--seed 0]

What it does, all on this machine:
1. Writes clips like a phone's (bench/results/videos/, made once per recipe): 720p, 1080p and
   4K, H.264 and HEVC, 30 frames a second, a keyframe every 2 s, at phone bitrates (H.264 16
   Mbit/s at 1080p, HEVC half; scaled by pixels), with 4 to 6 people of lfw_large (people with
   three photos or more) walking in and out: each seen for 4 to 30 s, their faces 50 to 250 px
   tall at 1080p, gliding across a made-up scene with sensor noise (bench/clips.py).
2. Times decoding every frame once, the baseline: FFmpeg through PyAV (frame threads) and
   through OpenCV, frames only and frames made into RGB arrays; and decoding the keyframes alone.
3. Encodes each clip as encode_faces.py does (one process, one core), at each sampling step
   (--video-every 1, 2, 4 s): seconds of work, frames searched, faces kept, and the people found
   (a person is found when a kept face lies on them; a kept face on no one is a false face).
   Then the whole set on 2 workers, as a library is encoded, for the work per minute of video on
   2 cores.
The sampling step is chosen on seed 0's clips and checked on seed 1's (--seed): both tables go
into docs/benchmarks.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from clips import Appearance, write_clip  # noqa: E402
from harness import RESULTS, bench_parser, publish  # noqa: E402

from faceclust.encode.local import encode_images  # noqa: E402
from faceclust.encode.settings import EncodeSettings  # noqa: E402
from faceclust.encode.video import encode_video  # noqa: E402
from faceclust.faces.models import shared_models  # noqa: E402
from faceclust.photos.video import duration_of  # noqa: E402

# (name, width, height, codec, seconds, bits per second)
CLIPS = (
    ("720p H.264", 1280, 720, "h264", 30, 8_000_000),
    ("1080p H.264", 1920, 1080, "h264", 60, 16_000_000),
    ("1080p HEVC", 1920, 1080, "hevc", 30, 8_000_000),
    ("4K H.264", 3840, 2160, "h264", 15, 50_000_000),
    ("4K HEVC", 3840, 2160, "hevc", 10, 25_000_000),
)
STEPS = (1.0, 2.0, 4.0)
# dlib's box on LFW's 250 px photos is about 107 px: 43% of the photo's height.
FACE_SHARE = 107 / 250


def make_clips(datasets: Path, folder: Path, seed: int) -> dict[str, dict]:
    """The clips and, per clip, each person's appearance (to match the faces found against).
    The plan is drawn from the seed every run; the files are written when missing or made by
    another recipe."""
    recipe_path = folder / f"recipe_seed{seed}.json"
    recipe = {"clips": [list(clip) for clip in CLIPS], "seed": seed, "version": 1}
    fresh = not recipe_path.exists() or json.loads(recipe_path.read_text()) != recipe
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lfw = datasets / "lfw_large"
    people = [p for p in sorted(lfw.iterdir()) if p.is_dir() and len(list(p.glob("*.jpg"))) >= 3]
    clips: dict[str, dict] = {}
    for number, (name, width, height, codec, seconds, bitrate) in enumerate(CLIPS):
        appearances = []
        count = int(rng.integers(4, 7))
        for slot, index in enumerate(rng.choice(len(people), count, replace=False)):
            person = people[int(index)]
            photo = sorted(person.glob("*.jpg"))[int(rng.integers(3))]
            with Image.open(photo) as image:
                sprite = np.asarray(image.convert("RGB"))
            length = float(rng.uniform(4, min(30, seconds)))
            start = float(rng.uniform(0, seconds - length))
            face_px = float(np.exp(rng.uniform(np.log(50), np.log(250)))) * height / 1080
            sprite_share = face_px / FACE_SHARE / height
            lane = (slot + 0.5) / count
            appearances.append(
                Appearance(
                    person.name,
                    sprite,
                    start,
                    start + length,
                    (float(rng.uniform(0.1, 0.9)), lane),
                    (float(rng.uniform(0.1, 0.9)), lane),
                    sprite_share,
                    sprite_share * float(rng.uniform(0.85, 1.15)),
                )
            )
        file = folder / f"clip{number}_seed{seed}.{'mp4' if codec == 'h264' else 'mov'}"
        if fresh or not file.exists():
            started = time.perf_counter()
            write_clip(
                str(file),
                appearances,
                width,
                height,
                seconds,
                codec=codec,
                bitrate=bitrate,
                noise=5.0,
                seed=seed,
            )
            print(f"wrote {file.name} ({name}) in {time.perf_counter() - started:.0f} s", flush=True)
        clips[name] = {"file": str(file), "seconds": seconds, "appearances": appearances}
    recipe_path.write_text(json.dumps(recipe))
    return clips


def decode_all(path: str, library: str, to_rgb: bool) -> float:
    started = time.perf_counter()
    if library == "pyav":
        import av

        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if to_rgb:
                    frame.to_ndarray(format="rgb24")
    else:
        import cv2

        capture = cv2.VideoCapture(path)
        while capture.grab():
            if to_rgb:
                capture.retrieve()
        capture.release()
    return time.perf_counter() - started


def decode_keyframes(path: str) -> float:
    import av

    started = time.perf_counter()
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = "NONKEY"
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
    return time.perf_counter() - started


def who(face, clip: dict, size: tuple[int, int]) -> str | None:
    """The person a kept face lies on at its time (its box's centre inside their sprite)."""
    top, right, bottom, left = face.box
    cx, cy = (left + right) / 2, (top + bottom) / 2
    for appearance in clip["appearances"]:
        placed = appearance.placement(face.time, *size)
        if placed is not None:
            x, y, w, h = placed
            if x <= cx < x + w and y <= cy < y + h:
                return appearance.person
    return None


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    folder = RESULTS / "videos"
    clips = make_clips(args.datasets, folder, args.seed)
    shared_models()  # loaded before any timing
    from threadpoolctl import threadpool_limits

    rows = []
    for name, width, height, _codec, seconds, _bitrate in CLIPS:
        clip = clips[name]
        path = clip["file"]
        per_minute = 60 / seconds
        baseline = {
            "pyav": decode_all(path, "pyav", False),
            "pyav rgb": decode_all(path, "pyav", True),
            "opencv": decode_all(path, "opencv", False),
            "opencv rgb": decode_all(path, "opencv", True),
        }
        keyframes = decode_keyframes(path)
        people = {appearance.person for appearance in clip["appearances"]}
        for every in STEPS:
            settings = EncodeSettings(video_every=every)
            with threadpool_limits(1):
                started = time.perf_counter()
                result = encode_video(path, settings)
                work = time.perf_counter() - started
            found = [who(face, clip, (width, height)) for face in result.faces]
            rows.append(
                {
                    "clip": name,
                    "every": every,
                    "minutes": seconds / 60,
                    "decode": baseline,
                    "keyframes": keyframes * per_minute,
                    "work": work * per_minute,
                    "frames": result.frames_searched,
                    "kept": len(result.faces),
                    "people": len(people),
                    "found": len(people & set(found)),
                    "false": sum(person is None for person in found),
                    "stages": {stage: round(value, 2) for stage, value in result.seconds.items()},
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    # As encode_faces.py runs on 2 cores: the minute of 1080p H.264 alone (its two parts on the
    # two workers), and the whole set, as a library is encoded.
    paths = [clips[name]["file"] for name, *_ in CLIPS]
    durations = {path: duration_of(path) for path in paths}
    target = clips["1080p H.264"]["file"]
    started = time.perf_counter()
    for _ in encode_images([target], EncodeSettings(), 2, {target: durations[target]}):
        pass
    one_minute = (time.perf_counter() - started) * 60 / durations[target]
    decode_one = decode_all(target, "pyav", True) * 60 / durations[target]
    total_minutes = sum(durations.values()) / 60
    started = time.perf_counter()
    for _ in encode_images(paths, EncodeSettings(), 2, durations):
        pass
    two_cores = (time.perf_counter() - started) / total_minutes
    decode_set = sum(decode_all(path, "pyav", True) for path in paths) / total_minutes
    (RESULTS / f"videos_seed{args.seed}.json").write_text(json.dumps(rows, indent=1))
    lines = [
        f"Seed {args.seed}. Seconds per minute of video (one clip timed per row); work is one process "
        "on one core (encode_faces.py's worker), decoding uses FFmpeg's threads on both cores.",
        "",
        "| clip | step | decode all: PyAV / +RGB / OpenCV / +RGB | keyframes +RGB | work | work / decode all +RGB "
        "| frames searched | faces kept | people found | false faces |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        scale = 60 / (row["minutes"] * 60)
        decode = row["decode"]
        lines.append(
            f"| {row['clip']} | {row['every']:g} s | {decode['pyav'] * scale:.1f} / {decode['pyav rgb'] * scale:.1f} / "
            f"{decode['opencv'] * scale:.1f} / {decode['opencv rgb'] * scale:.1f} | {row['keyframes']:.1f} | "
            f"{row['work']:.1f} | {row['work'] / (decode['pyav rgb'] * scale):.2f} | {row['frames']} | "
            f"{row['kept']} | {row['found']} of {row['people']} | {row['false']} |"
        )
    lines += [
        "",
        f"The minute of 1080p H.264 alone, as encode_faces.py encodes it on 2 cores (two parts, one per "
        f"worker): **{one_minute:.1f} s**, against {decode_one:.1f} s to decode every frame into RGB with "
        f"PyAV ({one_minute / decode_one:.2f} of it; the target is 0.67 or less).",
        "",
        f"All {len(paths)} clips ({total_minutes:.2f} minutes) encoded at the default step on 2 workers: "
        f"**{two_cores:.1f} s per minute of video**, against {decode_set:.1f} s to decode every frame "
        f"into RGB with PyAV ({two_cores / decode_set:.2f} of it).",
    ]
    publish("\n".join(lines), f"videos_seed{args.seed}", f"videos seed {args.seed}", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
