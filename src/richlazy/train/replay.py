"""Replaying a training step many times; on CUDA, as captured CUDA graphs (docs/theory.md §5.3)."""

from __future__ import annotations

from collections.abc import Callable

import torch


class StepReplay:
    """Runs ``step`` a given number of times; on CUDA, as replays of captured graphs.

    A GD step is some twenty small kernels whose launches, not their arithmetic, bound small
    batches on a GPU. After ``WARMUP`` eager steps (which also allocate every work buffer), one
    step and a block of ``BLOCK`` steps are captured as CUDA graphs and replayed; the results are
    the same kernels on the same buffers, so they equal eager steps exactly.
    """

    WARMUP = 3
    BLOCK = 32

    def __init__(self, step: Callable[[], None], *, replay: bool):
        self.step, self.replay = step, replay
        self.done = 0
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}

    def __call__(self, count: int) -> None:
        if not self.replay:
            for _ in range(count):
                self.step()
            return
        while count > 0 and self.done < self.WARMUP:
            self._warm_up()
            count -= 1
        if count <= 0:
            return
        if not self.graphs:
            self.graphs = {size: self._capture(size) for size in (self.BLOCK, 1)}
        blocks, rest = divmod(count, self.BLOCK)
        for _ in range(blocks):
            self.graphs[self.BLOCK].replay()
        for _ in range(rest):
            self.graphs[1].replay()
        self.done += count

    def _warm_up(self) -> None:
        """One eager step on a side stream, as CUDA graph capture asks of warm-up work."""
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            self.step()
        torch.cuda.current_stream().wait_stream(stream)
        self.done += 1

    def _capture(self, size: int) -> torch.cuda.CUDAGraph:
        """A graph of ``size`` consecutive steps; capturing runs none of them."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(size):
                self.step()
        return graph
