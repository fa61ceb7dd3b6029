"""Progress reporting for long runs: ``Progress`` and ``SilentProgress`` live in
``richlazy.runtime`` (the one protocol that sweeps, ``richlazy.train.train`` and
``richlazy.nn.fit`` accept); this module keeps their old import path."""

from richlazy.runtime import Progress, SilentProgress

__all__ = ["Progress", "SilentProgress"]
