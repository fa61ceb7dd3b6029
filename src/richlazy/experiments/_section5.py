"""What the Section 5 experiments (fig6c, fig6d) share: where they run, and one torch thread
for small models on CPU (measured 5-10x faster than two threads under load on 2 cores;
docs/section5-structure.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from richlazy.experiments.claims import number

DEVICES = ("auto", "cpu", "cuda")


def device_of(name: str) -> torch.device:
    """The torch device a config's ``device`` names ("auto": cuda when available)."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one torch thread, restoring the count after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def spread(values) -> str:
    """'median [min, max]' of finite or infinite values (censored runs as ±inf)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return "none"
    return f"{number(np.median(values))} [{number(values.min())}, {number(values.max())}]"
