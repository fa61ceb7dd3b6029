"""The FeatureMonitor's measures in TensorBoard (extra ``tensorboard``; guide: docs/nn.md).

writer = SummaryWriter("runs/alpha4")          # or TensorBoardLogger(monitor, "runs/alpha4")
log = TensorBoardLogger(monitor, writer)
for step in range(steps):
    log(step)                                  # records on the monitor's schedule
    ...
"""

from __future__ import annotations

import os

from richlazy.nn import _extras
from richlazy.nn.monitor import FeatureMonitor

__all__ = ["TensorBoardLogger"]


class TensorBoardLogger(_extras.ScalarLogger):
    """Writes ``monitor.scalars(step)`` as TensorBoard scalars ``prefix + name`` whenever the
    monitor's schedule records (§6.2's kernel distance, the activation change, the parameter
    distance, per layer).

    Args:
        monitor: the FeatureMonitor of the model being trained.
        writer: a ``torch.utils.tensorboard.SummaryWriter``, or a log directory to open one in
            (closed by ``close()``).
        prefix: prepended to every scalar's name.

    Raises:
        TypeError: ``monitor`` is not a FeatureMonitor or ``writer`` neither a writer nor a path.
        ModuleNotFoundError: tensorboard is not installed (``pip install 'richlazy[tensorboard]'``).
    """

    def __init__(self, monitor: FeatureMonitor, writer, *, prefix: str = "monitor/") -> None:
        super().__init__(monitor, prefix)
        board = _extras.require("torch.utils.tensorboard", "tensorboard", "TensorBoard logging")
        self._owned = isinstance(writer, str | os.PathLike)
        if self._owned:
            writer = board.SummaryWriter(log_dir=os.fspath(writer))
        elif not isinstance(writer, board.SummaryWriter):
            raise TypeError(
                f"writer must be a SummaryWriter or a log directory, got {type(writer).__name__}"
            )
        self.writer = writer

    def write(self, step: int) -> None:
        """Write the record at ``step`` (recorded now if it is not yet)."""
        for name, value in self.monitor.scalars(step).items():
            self.writer.add_scalar(self.prefix + name, value, global_step=step)

    def close(self) -> None:
        """Flush the writer, and close it if this logger opened it."""
        self.writer.flush()
        if self._owned:
            self.writer.close()
