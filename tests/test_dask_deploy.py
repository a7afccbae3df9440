"""Encoding on a cluster deployed as docs/usage.md says: a real ``dask scheduler`` and real
``dask worker`` processes, each from its own environment. A LocalCluster's workers share the
test's sys.path, so they cannot show a worker that lacks the package; these can."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faceclust.cli import encode_main
from faceclust.encode.settings import EncodeSettings
from faceclust.photos.images import find_images

from .conftest import REPO

distributed = pytest.importorskip("distributed")

DASK = str(Path(sys.executable).with_name("dask"))


def _environment(with_package: bool) -> dict[str, str]:
    """This process's environment, with the repository on the path or not at all."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if with_package:
        environment["PYTHONPATH"] = str(REPO)
    return environment


class Deployment:
    """A scheduler on loopback and the workers started against it, all stopped at the end."""

    def __init__(self, folder: Path, scheduler_has_package: bool):
        self.folder = folder
        self.processes: list[subprocess.Popen] = []
        scheduler_file = folder / "scheduler.json"
        loopback = ["--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
        self._start(
            [DASK, "scheduler", *loopback, "--scheduler-file", str(scheduler_file)],
            _environment(scheduler_has_package),
        )
        self.address = json.loads(self._wait_for(scheduler_file).read_text())["address"]

    def _start(self, argv: list[str], environment: dict[str, str]) -> None:
        log = open(self.folder / f"process{len(self.processes)}.log", "wb")  # noqa: SIM115
        # Not from the repository: a worker there would import the package from its own folder.
        self.processes.append(
            subprocess.Popen(argv, cwd=self.folder, env=environment, stdout=log, stderr=subprocess.STDOUT)
        )

    def _wait_for(self, path: Path) -> Path:
        deadline = time.monotonic() + 60
        while not path.exists() or not path.read_text().strip():
            assert time.monotonic() < deadline, f"{path} never appeared"
            time.sleep(0.2)
        time.sleep(0.2)  # written at once, but give its writer the moment to finish
        return path

    def add_worker(self, with_package: bool) -> None:
        """Start a worker and wait until the scheduler has it."""
        with distributed.Client(self.address, set_as_default=False, timeout=30) as client:
            before = len(client.nthreads())
            self._start(
                [DASK, "worker", self.address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                _environment(with_package),
            )
            client.wait_for_workers(before + 1, timeout=60)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def deploy(tmp_path):
    """Starts a deployment, its scheduler with the package or without."""
    folder = tmp_path / "cluster"
    folder.mkdir()
    # The worker without the package must really lack it (not installed in this venv).
    probe = subprocess.run(
        [sys.executable, "-c", "import faceclust"], cwd=folder, env=_environment(False), capture_output=True
    )
    if probe.returncode == 0:
        pytest.skip("faceclust is installed in this environment: no worker here can lack it")
    started: list[Deployment] = []

    def start(scheduler_has_package: bool) -> Deployment:
        started.append(Deployment(folder, scheduler_has_package))
        return started[-1]

    try:
        yield start
    finally:
        for deployment in started:
            deployment.stop()


def test_a_cluster_without_the_package_stops_the_run_with_its_cause(deploy, small_dataset, tmp_path, capsys):
    # The mistake as a user makes it: scheduler and worker from an environment without it.
    deployment = deploy(scheduler_has_package=False)
    deployment.add_worker(with_package=False)
    argv = [
        "-i",
        str(small_dataset),
        "-e",
        str(tmp_path / "e.pickle"),
        "-q",
        "--scheduler",
        deployment.address,
    ]
    assert encode_main(argv) == 1
    err = capsys.readouterr().err
    assert "error: 2 of the Dask cluster's 2 processes asked cannot encode for this run:" in err
    missing = "cannot import faceclust (ModuleNotFoundError: No module named 'faceclust')"
    assert f"the scheduler {deployment.address}: {missing}" in err
    assert re.search(rf"worker tcp://127\.0\.0\.1:[0-9]+: {re.escape(missing)}", err)
    assert "Install this faceclust" in err
    assert not (tmp_path / "e.pickle").exists()


def test_a_worker_that_joins_mid_run_without_the_package_is_caught(deploy, small_dataset):
    from faceclust.encode.cluster import SchedulerError, encode_images_on_cluster

    deployment = deploy(scheduler_has_package=True)
    deployment.add_worker(with_package=True)
    paths = [path for path in find_images(small_dataset) if "_junk" not in path]
    results = encode_images_on_cluster(paths, EncodeSettings(), deployment.address, batch_size=1)
    first = next(results)
    # The worker with the package encodes as a local run does.
    assert first.skip_reason is None and len(first.faces) == 1
    deployment.add_worker(with_package=False)
    with pytest.raises(SchedulerError, match="1 of the Dask cluster's 1 processes asked") as raised:
        list(results)
    assert "No module named 'faceclust'" in str(raised.value)


def test_a_worker_searches_a_camera_photo_where_yunet_sees_a_face_as_a_local_run_does(
    deploy, tmp_path, models, portrait
):
    # A camera-size photo needs YuNet's network file too, from the worker's own environment:
    # HOG searches it only where YuNet proposes a face.
    import numpy as np
    from PIL import Image

    from faceclust.encode.batch import encode_image
    from faceclust.encode.cluster import encode_images_on_cluster
    from faceclust.faces.models import iou

    from .conftest import jpeg_bytes

    canvas = Image.fromarray(
        np.random.default_rng(4).integers(60, 200, (375, 500, 3), dtype=np.uint8)
    ).resize((4000, 3000), Image.Resampling.BICUBIC)
    canvas.paste(
        portrait.resize((portrait.width * 2, portrait.height * 2), Image.Resampling.LANCZOS), (1500, 1000)
    )
    path = tmp_path / "camera.jpg"
    path.write_bytes(jpeg_bytes(canvas, quality=92))
    assert EncodeSettings().searches_proposals(4000)
    local = encode_image(str(path), EncodeSettings(), models)
    deployment = deploy(scheduler_has_package=True)
    deployment.add_worker(with_package=True)
    (remote,) = list(encode_images_on_cluster([str(path)], EncodeSettings(), deployment.address))
    assert remote.skip_reason is None and len(remote.faces) == len(local.faces) == 1
    assert iou(remote.faces[0].box, local.faces[0].box) > 0.95
    assert np.linalg.norm(remote.faces[0].encoding - local.faces[0].encoding) < 1e-4
