"""Execution backends: units of work in the main process, in a pool of worker processes
and as Ray tasks; outcomes in order, failures reported while the others finish, thread
pools sized per worker; and the tiny pipeline's leaderboard, identical cell by cell with
one worker (twice), two workers and a local Ray."""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from forgebench.cli import main
from forgebench.config import ExecutionSettings
from forgebench.errors import MediaError
from forgebench.execution import (
    LocalBackend,
    RayBackend,
    SerialBackend,
    Unit,
    UnitError,
    backend_for,
    costliest_first,
    run_units,
    stage_progress,
)
from forgebench.media import probe


def _units(clips_dir: Path, tmp_path: Path) -> list[Unit]:
    return [
        Unit("d0", probe, (clips_dir / "d0.mp4",)),
        Unit("missing", probe, (tmp_path / "missing.mp4",)),
        Unit("d12", probe, (clips_dir / "d12.mp4",)),
        Unit("threads", torch.get_num_threads),
    ]


@pytest.mark.parametrize("backend", ["serial", "local"])
def test_outcomes_in_order_and_failures_reported(backend, clips_dir, tmp_path):
    b = SerialBackend(1) if backend == "serial" else LocalBackend(2, threads=1)
    seen = []  # on_outcome: each outcome, in this process, as its unit finishes
    try:
        outcomes = run_units(
            _units(clips_dir, tmp_path),
            "probe",
            progress=False,
            expected=(MediaError,),
            backend=b,
            on_outcome=seen.append,
        )
        assert [o.key for o in outcomes] == ["d0", "missing", "d12", "threads"]
        assert sorted(seen, key=lambda o: o.key) == sorted(outcomes, key=lambda o: o.key)
        assert outcomes[0].value.n_frames == 78 and outcomes[2].value.n_frames == 183
        assert isinstance(outcomes[1].error, MediaError) and "missing.mp4" in str(outcomes[1].error)
        assert outcomes[3].value == 1  # threads_per_worker, set before the worker's first torch op
        with pytest.raises(MediaError, match="missing.mp4"):  # an unexpected error is raised once all ran
            run_units(_units(clips_dir, tmp_path), "probe", progress=False, backend=b)
        with pytest.raises(UnitError, match="bad: TypeError"):
            run_units([Unit("bad", probe, ())], "probe", progress=False, backend=b)
    finally:
        b.close()


def _started(seconds: float) -> float:
    """Wall-clock time this unit started, after which it works ``seconds``."""
    start = time.time()
    time.sleep(seconds)
    return start


def test_costliest_units_start_first_outcomes_in_order():
    # two workers, three units: the costly one listed last starts with the first, the
    # cheap second one waits for a free worker; outcomes still come back as listed
    units = [Unit("a", _started, (0.6,)), Unit("b", _started, (0.6,)), Unit("long", _started, (0.6,), cost=5.0)]
    assert costliest_first(units) == [2, 0, 1]
    b = LocalBackend(2, threads=1)
    try:
        run_units(units[:2], "warm-up", progress=False, backend=b)  # both workers started
        a, second, long = [o.value for o in run_units(units, "timed", progress=False, backend=b)]
    finally:
        b.close()
    assert long < second - 0.3 and a < second - 0.3


def _worker_state(module: str) -> tuple[int, bool]:
    """This process's id and whether ``module`` was imported when this unit started."""
    loaded = module in sys.modules
    time.sleep(0.3)  # long enough for the other worker to take the other unit
    return os.getpid(), loaded


def test_started_workers_preload_the_stage_modules():
    # start() spawns every worker at once, each importing what the stage's units need while
    # the main process goes on (the forgebench stage verbs call it before their own imports);
    # a module that does not import costs only the head start, the pool still works
    b = LocalBackend(2, threads=1)
    try:
        b.start(["forgebench.faces", "forgebench.no_such_module"])
        b.start(["forgebench.generators"])  # already started: the pool is kept as it is
        units = [Unit(k, _worker_state, (m,)) for k, m in (("a", "forgebench.faces"), ("b", "forgebench.generators"))]
        (pid_a, faces), (pid_b, generators) = [o.value for o in run_units(units, "state", progress=False, backend=b)]
    finally:
        b.close()
    assert pid_a != pid_b and pid_a != os.getpid() and faces and not generators
    SerialBackend(1).start(["forgebench.no_such_module"])  # nothing to start in the main process


class _Terminal(io.StringIO):
    def isatty(self) -> bool:  # tqdm draws bars on terminals only
        return True


def test_one_bar_per_stage_counts_units_of_every_step(clips_dir, monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    units = [Unit("d0", probe, (clips_dir / "d0.mp4",)), Unit("d12", probe, (clips_dir / "d12.mp4",))]
    b = LocalBackend(2, threads=1)
    try:
        with stage_progress("extract", expected=3) as bar:
            run_units(units, "re-encode", backend=b)
            assert (bar.n, bar.total) == (2, 3)  # the announced total holds while it is not passed
            run_units(units, "faces", backend=b)
            assert (bar.n, bar.total) == (4, 4) and bar.postfix == "faces"
    finally:
        b.close()
    drawn = sys.stderr.getvalue()
    assert "extract: 100%" in drawn and "4/4" in drawn and "re-encode" in drawn and "faces]" in drawn


def test_backend_for_settings(monkeypatch):
    assert isinstance(backend_for(ExecutionSettings(workers=1)), SerialBackend)
    local = backend_for(ExecutionSettings(workers=2, threads_per_worker=1))
    assert isinstance(local, LocalBackend) and local.workers == 2 and backend_for(ExecutionSettings(workers=2)) is local
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun: every process trains, units stay in the main process
    assert isinstance(backend_for(ExecutionSettings(workers=3)), SerialBackend)
    with pytest.raises(Exception, match="workers"):
        ExecutionSettings(workers=0)


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()


def test_ray_backend_runs_units_and_reports_failures(local_ray, clips_dir, tmp_path):
    b = RayBackend(threads=1, max_retries=1)
    seen = []
    outcomes = run_units(
        _units(clips_dir, tmp_path), "probe", progress=False, expected=(MediaError,), backend=b, on_outcome=seen.append
    )
    assert [o.key for o in outcomes] == ["d0", "missing", "d12", "threads"] and b.workers == 2
    assert sorted(seen, key=lambda o: o.key) == sorted(outcomes, key=lambda o: o.key)
    assert outcomes[0].value.n_frames == 78 and outcomes[3].value == 1
    assert isinstance(outcomes[1].error, MediaError) and "missing.mp4" in str(outcomes[1].error)


TINY = {
    "name": "same",
    "seed": 0,
    "device": "cpu",
    "data": {"max_seconds": 1.0},
    "faces": {"frames_per_video": 4, "crop_size": 64},
    "splits": {"ratio": [1, 1, 1]},
    "generators": {
        "autoencoder_swap": {
            "iterations": 30,
            "batch_size": 4,
            "encoder_dim": 32,
            "width": 0.125,
            "image_size": 32,
            "lr": 0.002,
        }
    },
    "metrics": {"frames_per_video": 2},
    "detectors": {"meso4": {"epochs": 2, "batch_size": 8, "image_size": 64}},
    "protocol": {
        "n_boot": 100,
        "robustness": {"jpeg": [50], "blur": [], "noise": [0.05], "downscale": [], "h264": [40]},
    },
}


def _run(tmp_path: Path, clips_dir: Path, name: str, execution: dict) -> pd.DataFrame:
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump({**TINY, "execution": execution}))
    out = tmp_path / name
    assert main(["--no-progress", "run", str(config), "--videos", str(clips_dir), "--out", str(out)]) == 0
    return pd.read_csv(out / "leaderboard" / "leaderboard.csv")


def _fakes(tmp_path: Path, name: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((tmp_path / name / "fakes" / "autoencoder_swap").glob("*.mp4"))}


@pytest.mark.slow
def test_same_numbers_with_one_two_workers_and_ray(tmp_path, clips_dir):
    one = _run(tmp_path, clips_dir, "one", {"workers": 1})
    again = _run(tmp_path, clips_dir, "again", {"workers": 1})
    two = _run(tmp_path, clips_dir, "two", {"workers": 2})
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = _run(tmp_path, clips_dir, "ray", {"backend": "ray"})
    finally:
        ray.shutdown()
    assert len(one) > 25 and {"quality", "detection", "robustness"} <= set(one["table"])
    for other in (again, two, on_ray):
        pd.testing.assert_frame_equal(one, other)  # every cell, NaN where NaN
    assert _fakes(tmp_path, "one") == _fakes(tmp_path, "two") == _fakes(tmp_path, "ray")  # byte for byte
