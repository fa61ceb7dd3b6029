"""The runtime module: torch-free at import, one log schedule (equal to the forms it replaced),
threads restored, devices and dtypes by name, one progress protocol."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from richlazy import runtime
from richlazy.runtime import (
    DEVICES,
    DTYPES,
    Progress,
    SilentProgress,
    device_of,
    dtype_of,
    log_schedule,
    progress_task,
    torch_threads,
)


def test_importing_the_runtime_loads_no_torch():
    code = "import sys, richlazy.runtime; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _old_checkpoints(max_steps: int, per_decade: int) -> np.ndarray:
    """The engine's former ``log_schedule``, written out: NumPy powers, 1 left out at one per
    decade."""
    exponents = np.arange(int(np.floor(np.log10(max_steps) * per_decade + 1e-9)) + 1) / per_decade
    points = np.unique(np.round(10**exponents).astype(np.int64))
    if per_decade == 1:
        points = points[points >= min(10, max_steps)]
    return np.unique(np.concatenate([[0], points[points < max_steps], [max_steps]]))


def _old_measurements(steps: int, per_decade: int) -> list[int]:
    """The vision experiments' former private schedule, written out."""
    points, k = {0, steps}, 0
    while (point := round(10 ** (k / per_decade))) < steps:
        points.add(point)
        k += 1
    return sorted(points)


def test_log_schedule_by_hand_and_against_the_forms_it_replaced():
    assert log_schedule(1000).tolist() == [0, 10, 100, 1000]
    assert log_schedule(1500).tolist() == [0, 10, 100, 1000, 1500]
    assert log_schedule(7).tolist() == [0, 7]
    assert log_schedule(100, per_decade=3).tolist() == [0, 1, 2, 5, 10, 22, 46, 100]
    endless = log_schedule(per_decade=10)
    head = [next(endless) for _ in range(12)]
    assert head == [0, 1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20]  # each integer once
    ones = log_schedule(per_decade=1)
    assert [next(ones) for _ in range(4)] == [0, 10, 100, 1000]
    assert log_schedule(1000, first=1).tolist() == [0, 1, 10, 100, 1000]
    assert log_schedule(1000, per_decade=3, first=20).tolist() == [0, 22, 46, 100, 215, 464, 1000]
    for per_decade in (1, 2, 3, 4, 10, 20, 1000):
        for max_steps in (1, 2, 9, 10, 11, 99, 100, 101, 12345, 10**6, 999_999_937):
            schedule = log_schedule(max_steps, per_decade=per_decade)
            assert schedule.dtype == np.int64
            np.testing.assert_array_equal(schedule, _old_checkpoints(max_steps, per_decade))
            # and the bounded schedule is the endless one cut at max_steps
            endless = log_schedule(per_decade=per_decade)
            head = []
            while (step := next(endless)) < max_steps:
                head.append(step)
            assert schedule.tolist() == [*head, max_steps]
            from_one = log_schedule(max_steps, per_decade=per_decade, first=1).tolist()
            assert from_one == _old_measurements(max_steps, per_decade)


def test_log_schedule_is_defined_once_and_its_old_paths_work():
    import richlazy.nn
    import richlazy.train
    import richlazy.train.schedule

    assert richlazy.train.log_schedule is log_schedule
    assert richlazy.train.schedule.log_schedule is log_schedule
    monitor_default = richlazy.nn.log_schedule()  # the monitor's default: 10 per decade
    assert [next(monitor_default) for _ in range(9)] == [0, 1, 2, 3, 4, 5, 6, 8, 10]
    denser = richlazy.nn.log_schedule(per_decade=20)
    assert [next(denser) for _ in range(3)] == [0, 1, 2]
    sparse = richlazy.nn.log_schedule(per_decade=1)  # the monitor's schedules start at 1
    assert [next(sparse) for _ in range(3)] == [0, 1, 10]


@pytest.mark.parametrize(
    "arguments, kind, name",
    [
        ((0,), ValueError, "max_steps"),
        ((2.5,), ValueError, "max_steps"),
        ((2**63,), ValueError, "max_steps"),
        (("10",), TypeError, "max_steps"),
        ((100, 0), ValueError, "per_decade"),
        ((100, 1001), ValueError, "per_decade"),
        ((None, 0), ValueError, "per_decade"),
        ((100, 2, 0), ValueError, "first"),
        ((100, 2, 1.5), ValueError, "first"),
    ],
)
def test_bad_log_schedules_are_refused_by_name(arguments, kind, name):
    max_steps, *rest = arguments
    options = dict(zip(("per_decade", "first"), rest, strict=False))
    with pytest.raises(kind, match=rf"^{name}"):
        log_schedule(max_steps, **options)


def test_torch_threads_sets_and_restores_the_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("restored on the way out too")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    for bad, kind in ((0, ValueError), (1.5, ValueError), ("2", TypeError)):
        with pytest.raises(kind, match=r"^n "), torch_threads(bad):
            pass


def test_no_other_module_sets_torchs_thread_count():
    """Every change of torch's thread count goes through torch_threads (restored after)."""
    import richlazy

    root = __import__("pathlib").Path(richlazy.__file__).parent
    setters = [
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if "set_num_threads(" in path.read_text()
    ]
    assert setters == ["runtime.py"]


def test_devices_and_dtypes_by_name():
    assert DEVICES == ("cpu", "cuda") and DTYPES == ("float64", "float32")
    assert device_of("cpu") == torch.device("cpu")
    assert device_of("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert dtype_of("float32") is torch.float32 and dtype_of("float64") is torch.float64
    with pytest.raises(ValueError, match=r"^device must be one of auto, cpu, cuda, got 'tpu'"):
        device_of("tpu")
    with pytest.raises(ValueError, match=r"^dtype must be one of float64, float32"):
        dtype_of("float16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"^device is 'cuda' but no CUDA device"):
            device_of("cuda")


class Recording:
    """A Progress that records its tasks and what was advanced."""

    def __init__(self):
        self.tasks, self.advanced = [], []

    def task(self, description, total):
        self.tasks.append((description, total))
        from contextlib import nullcontext

        return nullcontext(self.advanced.append)


def test_one_progress_protocol_for_train_fit_and_sweeps():
    import richlazy.sweeps
    from richlazy.sweeps import progress as old_path

    assert richlazy.sweeps.Progress is Progress and old_path.SilentProgress is SilentProgress
    assert isinstance(SilentProgress(), Progress) and isinstance(Recording(), Progress)
    recording = Recording()
    with progress_task(recording, "work", 7) as advance:
        advance(3)
    assert recording.tasks == [("work", 7)] and recording.advanced == [3]
    counts = []
    with progress_task(counts.append, "work", 7) as advance:
        advance(2)
    assert counts == [2]
    with progress_task(None, "work", 7) as advance:
        assert advance is None
    with (
        pytest.raises(TypeError, match=r"^progress must be None, a Progress"),
        progress_task(3, "work", 7),
    ):
        pass


def test_train_and_fit_take_the_same_progress_object():
    from tests.test_train import random_batch

    from richlazy.nn import SGD, fit
    from richlazy.nn.models import MLP
    from richlazy.train import solver_named, train

    nets, X, y = random_batch(1, S=1, K=2, m=2, d=2, n=4, leak=0.0, bias=False)
    recording = Recording()
    result = train(nets, X, y, lr=1e-2, checkpoints=[0, 5, 30], progress=recording)
    assert recording.tasks == [("training 1×2 networks: GD steps", 30)]
    assert sum(recording.advanced) == 30 and result.threads == 1 and result.fused is False
    flow = Recording()
    train(nets, X, y, lr=1e-2, checkpoints=[0, 5, 30], solver=solver_named("gf"), progress=flow)
    assert flow.tasks == [("training 1×2 networks: checkpoints", 6)]
    assert sum(flow.advanced) == 6
    torch.manual_seed(0)
    model = MLP(3, 4, 2, 2).double()
    x = torch.randn(8, 3, dtype=torch.float64)
    fitted = Recording()
    fit(model, x, torch.arange(8) % 2, optimizer=SGD(0.1), steps=9, progress=fitted)
    assert fitted.tasks == [("training 1 run(s)", 9)] and sum(fitted.advanced) == 9


def test_the_runtime_is_the_bottom_of_the_house():
    """Its names are what the command line reads (no copies there)."""
    from richlazy import cli
    from richlazy.train import solvers

    assert cli.DEVICES is runtime.DEVICES and cli.DTYPES is runtime.DTYPES
    assert cli.METHODS is solvers.METHODS and tuple(solvers.SOLVERS) == solvers.METHODS
