"""Figure 1 at the paper's scale: the published presets, the reference's draws, Figure 10
continuing Figure 1b's stored states, and the paper's figure style (docs/theory.md §5.1)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import xarray as xr

from richlazy import sweeps
from richlazy.data import reference_cells
from richlazy.experiments import get, runner
from richlazy.experiments.two_layer import fig1b, fig10

SMALL = {
    "taus": (0.1, 1.0),
    "deltas": (0.0, 1.0),
    "seeds": (0, 1),
    "d": 3,
    "n": 10,
    "n_test": 50,
    "width": 6,
    "steps": 100,
    "checkpoints_per_decade": 1,
}


def test_paper_presets_are_the_published_figures():
    published = get("fig1b").configure("paper")
    assert published.steps == 100_000 and published.seeds == tuple(range(100, 116))
    assert published.n_test == 10_000 and published.seeding == "reference"
    np.testing.assert_array_equal(published.checkpoints, [0, 10, 100, 1e3, 1e4, 1e5])
    drawn = fig1b._drawn_steps(xr.Dataset(coords={"step": published.checkpoints}), 4)
    np.testing.assert_array_equal(drawn, [100, 1e3, 1e4, 1e5])  # the published panels
    np.testing.assert_array_equal(published.taus, np.logspace(-1, 0.3, 17))  # unrounded
    longer = get("fig10").configure("paper")
    assert longer.steps == 1_000_000 and sweeps.trajectory_key(longer) == sweeps.trajectory_key(
        published
    )
    columns = fig10.decades(xr.Dataset(coords={"step": longer.checkpoints}))
    np.testing.assert_array_equal(columns, [100, 1e3, 1e4, 1e5, 1e6])


def test_reference_seeding_trains_the_reference_networks():
    config = get("fig1b").configure("quick", {**SMALL, "seeding": "reference", "seeds": (100,)})
    nets, (X, _, X_test, _) = sweeps.initial_cells(config, config.dataset(100), 100)
    grid = reference_cells(
        [100], *np.meshgrid(config.taus, config.deltas, indexing="ij"), d=3, n=10, m=6, n_test=50
    )
    np.testing.assert_array_equal(nets.W.numpy(), grid.W)
    np.testing.assert_array_equal(nets.a.numpy(), grid.a)
    np.testing.assert_array_equal(X.numpy(), grid.X)
    np.testing.assert_array_equal(X_test[0].numpy(), grid.X_test[0])
    numpy_seeded = sweeps.initial_cells(
        get("fig1b").configure("quick", {**SMALL, "seeds": (100,)}),
        get("fig1b").configure("quick", {**SMALL, "seeds": (100,)}).dataset(100),
        100,
    )[0]
    assert not torch.equal(numpy_seeded.W, nets.W)  # the two seedings are different streams
    results = runner.run("fig1b", overrides={**SMALL, "seeding": "reference"}).results
    config = get("fig1b").config_of(results)
    assert config.seeding == "reference" and not results.diverged.any()
    with pytest.raises(ValueError, match=r"^seeding"):
        get("fig1b").configure("quick", {"seeding": "torch"})


def test_fig10_continues_fig1b_and_equals_a_run_from_scratch(tmp_path, monkeypatch):
    runner.run("fig1b", out=tmp_path, overrides=SMALL)
    assert sorted(p.name for p in (tmp_path / "fig1b" / "states").iterdir()) == [
        "seed-0.zarr",
        "seed-1.zarr",
    ]
    real, starts = sweeps.two_layer.train_cells, []

    def recording(config, dataset, seed, progress=None, *, start=None):
        starts.append(None if start is None else start[0])
        return real(config, dataset, seed, progress, start=start)

    monkeypatch.setattr(sweeps.two_layer, "train_cells", recording)
    extended = runner.run("fig10", out=tmp_path, overrides={**SMALL, "steps": 1000}).results
    assert starts == [100, 100]  # both seeds went on from fig1b's step 100
    scratch = runner.run("fig10", overrides={**SMALL, "steps": 1000}).results
    assert starts == [100, 100, None, None]
    assert extended.drop_attrs().identical(scratch.drop_attrs())  # bitwise, every variable
    np.testing.assert_array_equal(extended.step, [0, 10, 100, 1000])
    # a run of other trajectories (another rate) does not reuse those states
    starts.clear()
    runner.run("fig10", out=tmp_path / "other", overrides={**SMALL, "steps": 1000, "lr": 1e-3})
    runner.run(
        "fig10", out=tmp_path, overrides={**SMALL, "steps": 1000, "lr": 1e-3}, overwrite=True
    )
    assert starts == [None, None, None, None]


def test_paper_style_draws_shared_linear_levels_and_masks_diverged_cells(tmp_path):
    results = runner.run("fig1b", out=tmp_path, overrides=SMALL).results
    broken = results.copy(deep=True)
    broken["diverged"][0, 0, 0] = True
    broken["test_loss"][0, 0, 0] = np.nan
    for style in ("richlazy", "paper"):
        figures = fig1b.plot(broken.assign_attrs(style=style), get("fig1b").config_of(results))
        assert set(figures) == {"fig1b", "fig1b_supporting"}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "richlazy", "figure", "fig1b", "--from", str(tmp_path)),
            *("--out", str(tmp_path / "paper"), "--style", "paper"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    paper = tmp_path / "paper" / "fig1b"  # another style: a file of its own, beside the default
    assert (paper / "fig1b_paper.png").stat().st_size > 10_000
    assert not (paper / "fig1b.png").exists()
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "richlazy",
            "figure",
            "fig3",
            "--from",
            str(tmp_path),
            "--style",
            "paper",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and "style must be one of richlazy" in refused.stderr
    stored = json.loads((tmp_path / "fig1b" / "config.json").read_text())
    assert "style" not in stored["config"]  # a drawing choice, not part of the results
