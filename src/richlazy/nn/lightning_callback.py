"""A Lightning callback that runs the FeatureMonitor (extra ``lightning``; guide: docs/nn.md).

    trainer = lightning.Trainer(callbacks=[FeatureMonitorCallback(probe_x)], ...)

The monitor is built on the LightningModule when training starts (its first optimizer's rates
weight the kernel), records at ``trainer.global_step`` on its schedule before each training
step, and sends ``monitor.scalars`` to every logger of the trainer. Its state is saved in the
trainer's checkpoints, so a resumed run measures from the same start.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from richlazy.nn import _checks, _extras, ntk
from richlazy.nn.monitor import FeatureMonitor

__all__ = ["FeatureMonitorCallback"]

_pl = _extras.require("lightning.pytorch", "lightning", "The Lightning callback")


class FeatureMonitorCallback(_pl.Callback):
    """Runs a ``FeatureMonitor`` inside ``lightning.Trainer.fit`` (docs/theory.md §6.2).

    Args:
        probe_x: probe points (N, ...), moved to the module's device when training starts.
        every: the monitor's schedule (None: about 10 records per decade of steps).
        kernel: "sum" or "trace".
        prefix: prepended to every logged name.

    Attributes:
        monitor: the FeatureMonitor, None before training starts.

    Raises:
        TypeError, ValueError: bad probe points or kernel (the monitor's own checks run when
            training starts).
        ModuleNotFoundError: lightning is not installed (``pip install 'richlazy[lightning]'``).
    """

    def __init__(
        self,
        probe_x: torch.Tensor,
        *,
        every: int | Iterable[int] | None = None,
        kernel: ntk.Kernel = "sum",
        prefix: str = "monitor/",
    ) -> None:
        self.probe = _checks.probe("probe_x", probe_x)
        self.kernel = _checks.choice("kernel", kernel, ("sum", "trace"))
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        self.every, self.prefix = every, prefix
        self.monitor: FeatureMonitor | None = None
        self._pending: dict | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        optimizers = trainer.optimizers
        self.monitor = FeatureMonitor(
            pl_module,
            self.probe.to(pl_module.device),
            optimizer=optimizers[0] if len(optimizers) == 1 else None,
            every=self.every,
            kernel=self.kernel,
        )
        if self._pending is not None:
            self.monitor.load_state_dict(self._pending)
            self._pending = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.monitor is None or not self.monitor.maybe_log(step):
            return
        scalars = {self.prefix + k: v for k, v in self.monitor.scalars(step).items()}
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=step)

    def state_dict(self) -> dict:
        if self.monitor is None:
            return {} if self._pending is None else self._pending
        return self.monitor.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        if not state_dict:
            return
        if self.monitor is None:
            self._pending = state_dict
        else:
            self.monitor.load_state_dict(state_dict)
