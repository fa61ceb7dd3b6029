"""The FeatureMonitor's adapters: TensorBoard (event file read back), W&B (offline run file read
back) and the Lightning callback (a tiny LightningModule), and the missing-package message."""

import glob
import importlib
import struct
import sys
import time

import pytest
import torch
from torch import nn

from richlazy.nn import FeatureMonitor
from richlazy.nn.tensorboard_logger import TensorBoardLogger
from richlazy.nn.wandb_logger import WandbLogger

pytestmark = pytest.mark.usefixtures("single_thread")
D = torch.float64


def training(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1)).to(D)
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(1), dtype=D)
    y = torch.randn(10, 1, generator=torch.Generator().manual_seed(2), dtype=D)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    return model, x, y, optimizer


def run(log, model, x, y, optimizer, steps=12):
    for step in range(steps):
        log(step)
        loss = ((model(x) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_tensorboard_event_file_holds_the_monitors_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model, x, y, optimizer = training()
    monitor = FeatureMonitor(model, x, optimizer=optimizer, every=4)
    log = TensorBoardLogger(monitor, tmp_path / "run")
    run(log, model, x, y, optimizer)
    log.close()
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"monitor/" + k for k in monitor.scalars(8)}
    read = events.Scalars("monitor/kernel_distance")
    assert [e.step for e in read] == [0, 4, 8]
    expected = monitor.to_xarray().kernel_distance.values
    # TensorBoard stores float32: agreement to float32 rounding (relative 2**-23)
    assert [e.value for e in read] == pytest.approx(expected, rel=2**-23, abs=0)
    assert read[0].value == 0.0 < read[-1].value


def wandb_history(path):
    """The logged rows of an offline run file: W&B's record log (a 7-byte header, then 32 KiB
    blocks of records [crc u32, length u16, type u8, data], full=1/first=2/middle=3/last=4)
    holding protobuf ``Record`` messages; waits (at most 60 s) for the run's ``exit`` record,
    since W&B's writer process may still be writing when ``finish()`` returns."""
    for _ in range(300):
        rows, finished = wandb_records(path)
        if finished:
            return rows
        time.sleep(0.2)
    raise AssertionError(f"{path} has no exit record after 60 s")


def wandb_records(path):
    from wandb.proto import wandb_internal_pb2

    with open(path, "rb") as file:
        data = file.read()
    assert data[:4] == b":W&B"
    rows, pos, payload, finished = [], 7, b"", False
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        payload += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            payload = b""
            finished = finished or record.WhichOneof("record_type") == "exit"
            if record.WhichOneof("record_type") == "history":
                rows.append(
                    {i.key or "/".join(i.nested_key): i.value_json for i in record.history.item}
                )
        elif kind == 0:
            break
    return rows, finished


def test_wandb_offline_run_holds_the_monitors_scalars(tmp_path, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    model, x, y, optimizer = training()
    monitor = FeatureMonitor(model, x, optimizer=optimizer, every=4)
    session = wandb.init(project="richlazy-test", dir=tmp_path, mode="offline")
    try:
        run(WandbLogger(monitor), model, x, y, optimizer)
    finally:
        session.finish()
    (path,) = glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb"))
    rows = wandb_history(path)
    assert [int(r["_step"]) for r in rows] == [0, 4, 8]
    expected = monitor.to_xarray()
    assert [float(r["monitor/kernel_distance"]) for r in rows] == pytest.approx(
        expected.kernel_distance.values, rel=1e-15, abs=0
    )  # JSON keeps float64's 17 digits
    assert float(rows[0]["monitor/kernel_distance"]) == 0.0
    assert {k for k in rows[0] if k.startswith("monitor/")} == {
        "monitor/" + k for k in monitor.scalars(8)
    }


def test_lightning_callback_logs_and_resumes_from_a_checkpoint(tmp_path):
    import lightning
    from lightning.pytorch.loggers import CSVLogger

    from richlazy.nn.lightning_callback import FeatureMonitorCallback

    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(1))
    y = torch.randn(16, 1, generator=torch.Generator().manual_seed(2))

    class Tiny(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))

        def forward(self, inputs):
            return self.net(inputs)

        def training_step(self, batch, batch_idx):
            inputs, targets = batch
            return ((self(inputs) - targets) ** 2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.3)

    def loader():
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)

    def trainer(steps, callback, name):
        return lightning.Trainer(
            max_steps=steps, callbacks=[callback], accelerator="cpu", log_every_n_steps=1,
            logger=CSVLogger(tmp_path, name=name), enable_progress_bar=False,
            enable_model_summary=False, enable_checkpointing=False,
        )  # fmt: skip

    torch.manual_seed(0)
    callback = FeatureMonitorCallback(x, every=5)
    first = trainer(10, callback, "first")
    module = Tiny()
    first.fit(module, loader())
    first.save_checkpoint(tmp_path / "ten.ckpt")
    steps = [r["step"] for r in callback.monitor.records]
    assert steps == [0, 5]
    metrics = (tmp_path / "first" / "version_0" / "metrics.csv").read_text().splitlines()
    assert "monitor/kernel_distance" in metrics[0].split(",")
    assert len(metrics) == 1 + 2

    torch.manual_seed(7)  # other initial weights: the checkpoint restores them
    resumed = FeatureMonitorCallback(x, every=5)
    trainer(20, resumed, "resumed").fit(Tiny(), loader(), ckpt_path=tmp_path / "ten.ckpt")
    assert [r["step"] for r in resumed.monitor.records] == [0, 5, 10, 15]
    # measured from the first run's start: the distances go on growing from where they were
    distances = [r["parameter_distance"] for r in resumed.monitor.records]
    assert distances[:2] == [r["parameter_distance"] for r in callback.monitor.records]
    assert 0 < distances[1] < distances[2] < distances[3]


@pytest.mark.parametrize(
    ("module", "missing", "extra"),
    [
        ("richlazy.nn.tensorboard_logger", "torch.utils.tensorboard", "tensorboard"),
        ("richlazy.nn.wandb_logger", "wandb", "wandb"),
    ],
)
def test_a_missing_package_says_which_extra_installs_it(module, missing, extra, monkeypatch):
    model, x, _, _ = training()
    monitor = FeatureMonitor(model, x)
    monkeypatch.setitem(sys.modules, missing, None)  # as if it were not installed
    name = {"tensorboard": "TensorBoardLogger", "wandb": "WandbLogger"}[extra]
    adapter = getattr(importlib.import_module(module), name)
    with pytest.raises(ModuleNotFoundError, match=rf"pip install 'richlazy\[{extra}\]'"):
        adapter(monitor, "dir") if extra == "tensorboard" else adapter(monitor)


def test_the_lightning_module_says_which_extra_installs_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    monkeypatch.delitem(sys.modules, "richlazy.nn.lightning_callback", raising=False)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'richlazy\[lightning\]'"):
        importlib.import_module("richlazy.nn.lightning_callback")


def test_bad_arguments_are_refused(tmp_path):
    model, x, _, _ = training()
    monitor = FeatureMonitor(model, x)
    with pytest.raises(TypeError, match="monitor"):
        TensorBoardLogger(model, tmp_path)
    with pytest.raises(TypeError, match="writer"):
        TensorBoardLogger(monitor, 3)
    with pytest.raises(TypeError, match="monitor"):
        WandbLogger(model)
    with pytest.raises(ValueError, match=r"wandb\.init"):
        WandbLogger(monitor)  # no active run
