"""Encoding through a Dask cluster: a LocalCluster of two worker processes on localhost gives
the faces a local run gives, also when a worker is killed in the middle."""

import os
import pickle
import signal
import subprocess
import sys

import numpy as np
import pytest

from faceclust.cli import encode_main
from faceclust.encode.local import encode_images
from faceclust.encode.settings import EncodeSettings
from faceclust.photos.images import find_images

from .conftest import REPO

distributed = pytest.importorskip("distributed")


@pytest.fixture
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    ) as local:
        yield local


def records(path):
    return pickle.loads(path.read_bytes())


def assert_same_faces(got, want):
    assert [(r["imagePath"], r["loc"]) for r in got] == [(r["imagePath"], r["loc"]) for r in want]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a["encoding"], b["encoding"], rtol=0, atol=1e-6)


def test_a_run_through_the_scheduler_gives_the_faces_of_a_local_run(cluster, small_dataset, tmp_path, capsys):
    local, remote = tmp_path / "local.pickle", tmp_path / "remote.pickle"
    assert encode_main(["-i", str(small_dataset), "-e", str(local), "-q", "-j", "1"]) == 0
    local_err = capsys.readouterr().err
    remote_argv = [
        "-i",
        str(small_dataset),
        "-e",
        str(remote),
        "-q",
        "--scheduler",
        cluster.scheduler_address,
    ]
    assert encode_main(remote_argv) == 0
    remote_err = capsys.readouterr().err
    # The same summary, broken files and all, but for the time and the file written.
    assert [line for line in remote_err.splitlines() if "truncated" in line or "not an image" in line] == [
        line for line in local_err.splitlines() if "truncated" in line or "not an image" in line
    ]
    assert "14 images read, 12 with faces, 12 faces found" in remote_err
    assert_same_faces(records(remote), records(local))
    # A re-run reuses the index, as a local one does.
    assert (
        encode_main(
            ["-i", str(small_dataset), "-e", str(remote), "-q", "--scheduler", cluster.scheduler_address]
        )
        == 0
    )
    assert "14 images unchanged since the last run are reused" in capsys.readouterr().err


def test_a_worker_killed_mid_run_loses_nothing(cluster, small_dataset):
    from faceclust.encode.cluster import encode_images_on_cluster

    paths = find_images(small_dataset)
    settings = EncodeSettings()
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    results = {}
    # One photo per task, so the killed worker holds several in flight.
    for result in encode_images_on_cluster(paths, settings, cluster.scheduler_address, batch_size=1):
        if not results:
            os.kill(victim, signal.SIGKILL)
        results[result.image_path] = result
    assert sorted(results) == sorted(paths)
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        assert victim not in client.run(os.getpid).values()  # it really died (and was replaced)
    for want in encode_images(paths, settings, jobs=1):
        got = results[want.image_path]
        assert got.skip_reason == want.skip_reason
        assert [face.box for face in got.faces] == [face.box for face in want.faces]
        for a, b in zip(got.faces, want.faces, strict=True):
            np.testing.assert_allclose(a.encoding, b.encoding, rtol=0, atol=1e-6)


def scheduler_argv(dataset, tmp_path, address: str) -> list[str]:
    return ["-i", str(dataset), "-e", str(tmp_path / "e.pickle"), "-q", "--scheduler", address]


def test_an_unreachable_scheduler_is_a_clear_error(small_dataset, tmp_path, capsys, monkeypatch):
    from faceclust.encode import cluster as cluster_encoding

    monkeypatch.setattr(cluster_encoding, "CONNECT_SECONDS", 2)
    assert encode_main(scheduler_argv(small_dataset, tmp_path, "tcp://127.0.0.1:9")) == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err


def test_jobs_and_scheduler_together_are_refused(small_dataset, tmp_path):
    with pytest.raises(SystemExit):
        encode_main(
            ["-i", str(small_dataset), "-e", str(tmp_path / "e"), "-j", "2", "--scheduler", "tcp://x:1"]
        )


def test_a_local_run_does_not_import_dask(small_dataset, tmp_path):
    script = (
        "import sys; from faceclust.cli import encode_main; "
        f"code = encode_main(['-i', {str(small_dataset / 'ben_afflek')!r}, '-e', {str(tmp_path / 'e.pickle')!r}, '-q']); "
        "print(code, 'dask' in sys.modules or 'distributed' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert done.stdout.split() == ["0", "False"]


def test_a_scheduler_without_workers_is_a_clear_error(small_dataset, tmp_path, capsys, monkeypatch):
    from faceclust.encode import cluster as cluster_encoding

    monkeypatch.setattr(cluster_encoding, "CONNECT_SECONDS", 2)
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty:
        assert encode_main(scheduler_argv(small_dataset, tmp_path, empty.scheduler_address)) == 1
    assert "has no workers (waited 2 s)" in capsys.readouterr().err


def test_a_long_video_is_shared_out_in_parts_and_joined_as_a_local_run_joins_it(
    cluster, tmp_path, monkeypatch
):
    from faceclust.encode import video as video_module
    from faceclust.encode.cluster import encode_images_on_cluster

    from .test_videos import clip

    path = str(clip(tmp_path / "long.mp4", seconds=6.0))
    monkeypatch.setattr(video_module, "PART_SECONDS", 2.0)  # planned here: parts of 0-2, 2-4, 4- s
    settings = EncodeSettings(video_every=1.0, video_faces=3)
    parts: list = []
    [remote] = encode_images_on_cluster(
        [path], settings, cluster.scheduler_address, durations={path: 6.0}, on_part=parts.append
    )
    [local] = encode_images([path], settings, jobs=1, durations={path: 6.0})
    assert sorted(part.part[0] for part in parts) == [0.0, 2.0, 4.0]
    assert remote.image_path == path and remote.part is None
    assert [(f.time, f.box) for f in remote.faces] == [(f.time, f.box) for f in local.faces]
    np.testing.assert_allclose(
        [f.encoding for f in remote.faces], [f.encoding for f in local.faces], rtol=0, atol=1e-6
    )
