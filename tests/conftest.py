"""Fixtures every test folder shares. The expensive inputs (rendered QEVD-SIM data, features of
the bundled CNN) are made once per test run here and shared read-only: a test that writes under
one of these roots copies it first (``shutil.copytree``: milliseconds, where rendering takes
seconds). ``make test`` runs three pytest-xdist workers; ``built_once`` makes such an input once
for all of them (the first worker to ask builds it, the others wait on a file lock). A module
whose module-scoped fixtures are expensive is marked ``xdist_group``: one worker runs it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from run_once import built_once
from videos import trim_workout_root

# Tests marked ``slow(seconds)`` run first, the longest first (seconds: about what one takes
# under ``make test``): a long test started last would leave the other workers idle while one
# finishes it.
SLOW = "slow"


_history_dir: Path | None = None  # this process's throw-away workout history


def pytest_unconfigure(config: pytest.Config) -> None:
    if _history_dir is not None:
        shutil.rmtree(_history_dir, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{SLOW}(seconds): a long test; scheduled first")
    # The workout history of every session a test finishes (``livefit coach``, ``serve``):
    # never the user's own, and inherited by every process a test starts.
    global _history_dir
    _history_dir = Path(tempfile.mkdtemp(prefix="livefit-history-"))
    os.environ["LIVEFIT_HISTORY"] = str(_history_dir / "h.db")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        # One torch thread per worker, and per process a test starts (they inherit the
        # variable): workers on two cores, each with two threads, only fight over them
        # (measured: the demo with two threads beside a busy core took 45 s, with one 25 s).
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # --dist loadgroup tags each test of an xdist_group with "@group" (pytest-xdist's own hook,
    # which runs before this one); a pytest where that no longer works (9.2) would silently
    # spread a group over the workers, each building its fixtures again.
    if getattr(config.option, "loadgroup", False):
        lost = [
            i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid
        ]
        if lost:
            raise pytest.UsageError(f"xdist_group not applied (pytest-xdist vs pytest?): {lost[0]}")

    def seconds(item: pytest.Item) -> float:
        mark = item.get_closest_marker(SLOW)
        return float(mark.args[0]) if mark is not None else 0.0

    items.sort(key=lambda item: -seconds(item))  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def _torch_threads_kept() -> Iterator[None]:
    """Each test leaves torch's thread count as it found it: the CLI commands set it for their
    process (``--threads``), and a test that runs one in-process (``CliRunner``) would otherwise
    hand its setting to every later test of that worker (two threads beside another worker
    only fight over the two cores)."""
    import torch

    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def pose_estimator_available() -> None:
    """The pose path's estimator (``ai-edge-litert`` and MediaPipe Pose's models) loads, or the
    test is skipped; ``make test`` sets LIVEFIT_REQUIRE_POSE=1, which makes it a failure."""
    from livefit.vision.pose_estimator import PoseEstimator, PoseEstimatorError

    try:
        PoseEstimator.load()
    except PoseEstimatorError as err:
        if os.environ.get("LIVEFIT_REQUIRE_POSE") == "1":
            raise
        pytest.skip(str(err))


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def _shared(root: Path) -> Iterator[Path]:
    """Yield a shared root; at the session's end, fail if any test wrote under it."""
    before = _files(root)
    yield root
    after = _files(root)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"a test wrote under the shared {root} (copy it first): {changed[:5]}"


@pytest.fixture(scope="session")
def sim_workout_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One tiny QEVD-SIM test workout (seed 0: three 8 s exercises with rests, about 55 s at
    30 fps) and nothing else. Shared: never write under it (copy it first)."""
    from livefit.synth.generate import generate
    from livefit.synth.presets import preset

    config = preset("tiny", train_workouts=0, test_workouts=1, train_clips=0, test_clips=0)
    root = built_once(
        tmp_path_factory,
        "sim_workout",
        lambda root: generate(config, root, 0, workers=1, progress=False),
    )
    yield from _shared(root)


@pytest.fixture(scope="session")
def sim_tiny_root(
    sim_workout_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The whole tiny preset (seed 0: 2 + 2 workouts, 24 + 12 clips). Every video is seeded by
    its index, so it is ``sim_workout_root`` grown: the same bytes as a fresh run, one workout
    sooner. Shared: never write under it (copy it first)."""
    from livefit.synth.generate import generate
    from livefit.synth.presets import preset

    def build(root: Path) -> None:
        shutil.copytree(sim_workout_root, root)
        generate(preset("tiny"), root, 0, workers=1, progress=False)

    yield from _shared(built_once(tmp_path_factory, "sim_tiny", build))


@pytest.fixture(scope="session")
def sim_workout_features(
    sim_workout_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """``sim_workout_root`` with the bundled CNN's features of its workout (what ``livefit
    features extract`` writes by default; about 8 s on 2 cores). Shared: never write under it."""
    from livefit.bundled import bundled_cnn
    from livefit.vision.extract import run_extraction
    from livefit.vision.weights import load_model

    def build(root: Path) -> None:
        shutil.copytree(sim_workout_root, root)
        summary = run_extraction(root, "test", load_model(bundled_cnn()), progress=False)
        assert summary.done == 1 and not summary.failed, summary

    yield from _shared(built_once(tmp_path_factory, "sim_features", build))


@pytest.fixture(scope="session")
def sim_workout_head_root(
    sim_workout_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """``sim_workout_root`` with its workout cut to the first 20 s (the first exercise, good
    mornings, with its start and summary): what the pose path's tests run the estimator over.
    Shared: never write under it."""
    root = built_once(
        tmp_path_factory,
        "sim_workout_head",
        lambda root: trim_workout_root(sim_workout_root, root, 20.0),
    )
    yield from _shared(root)
