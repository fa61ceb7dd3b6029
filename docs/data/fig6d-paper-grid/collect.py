"""fig6d's paper grid from its τ = 1 row (docs/data/fig6d-paper-tau1) and the other τ of a run
directory of `richlazy run fig6d --preset paper --set taus=0.5,0.75,1.25,1.5 --out RUN`,
finished or not (then only the τ whose every seed finished), as one small netCDF with figures.

Usage: python collect.py RUN OUT
"""

import glob
import sys
from dataclasses import replace
from pathlib import Path

import xarray as xr

from richlazy.experiments.section5 import fig6d
from richlazy.experiments.section5._fig6d_report import ordinal_steps

run, out = Path(sys.argv[1]), Path(sys.argv[2])
row = xr.open_zarr(Path(__file__).parents[1] / "fig6d-paper-tau1/fig6d/results.zarr").load()
finished = run / "fig6d/results.zarr"
if finished.exists():
    rows = [xr.open_zarr(finished).load()]
else:  # shards "tau-T-seed-S": a τ row counts once all of the row's seeds finished
    shards = [xr.open_zarr(p).load() for p in sorted(glob.glob(f"{run}/fig6d/shards/*.zarr"))]
    taus = sorted({float(s.tau.values[0]) for s in shards})
    rows = []
    for tau in taus:
        seeds = [s for s in shards if float(s.tau.values[0]) == tau]
        if len(seeds) == row.seed.size:
            rows.append(xr.concat(seeds, "seed", combine_attrs="drop").sortby("seed"))
parts = [row.drop_attrs(), *(r.drop_attrs() for r in rows)]
grid = xr.concat(parts, "tau").sortby("tau").transpose("alpha", "tau", "seed", "step")
config = replace(
    fig6d.PRESETS["paper"],
    taus=tuple(float(t) for t in grid.tau.values),
    seeds=tuple(int(s) for s in grid.seed.values),
)
grid.to_netcdf(out / "results.nc")
for name, figure in fig6d.plot(grid, config).items():
    figure.savefig(out / f"{name}.png", dpi=90)
print(
    "τ rows:", grid.tau.values.tolist(), "runs:", grid.alpha.size * grid.tau.size * grid.seed.size
)
print("median steps to grok (inf: censored)")
print(ordinal_steps(grid).median("seed").transpose("tau", "alpha").to_pandas().to_string())
print("median steps to memorize")
print(
    ordinal_steps(grid, "steps_to_memorize")
    .median("seed")
    .transpose("tau", "alpha")
    .to_pandas()
    .to_string()
)
