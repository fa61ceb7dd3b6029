"""The finished shards of an interrupted fig6c paper run as one small netCDF, and its figure.

Usage: python collect.py RUN_DIRECTORY OUT_DIRECTORY
"""

import glob
import sys

import xarray as xr

from richlazy.experiments.section5 import fig6c
from richlazy.experiments.section5._crossing import sample_complexity

src, out = sys.argv[1], sys.argv[2]
shards = [xr.open_zarr(p).load() for p in glob.glob(f"{src}/fig6c/shards/*.zarr")]
r = xr.combine_by_coords(shards).transpose("alpha", "train_size", "seed")
config = fig6c.EXPERIMENT.configure(
    "paper",
    {
        "seeds": tuple(int(s) for s in r.seed.values),
        "train_sizes": tuple(int(p) for p in r.train_size.values),
    },
)
err = r.test_error.transpose("alpha", "seed", "train_size").values
p, c = sample_complexity(err, r.train_size.values, config.error_threshold)
r = r.assign(
    sample_complexity=(("alpha", "seed"), p), sample_complexity_censored=(("alpha", "seed"), c)
).assign_attrs(p_max=config.p_max)
r.to_netcdf(f"{out}/results.nc")
fig6c.plot(r, config)["fig6c"].savefig(f"{out}/fig6c.png", dpi=90)
print(r.test_error.squeeze("seed").to_pandas().round(4).to_string())
