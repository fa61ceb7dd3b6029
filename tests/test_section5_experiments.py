"""fig6c and fig6d on the paper's recipes (docs/section5-structure.md): the networks, knobs and
schedule as the experiments build them, resumable shards (interrupted and resumed), censored runs
kept, the presets, and the claims on hand-made results."""

import dataclasses
import math

import numpy as np
import pytest
import torch
import xarray as xr

from richlazy import experiments
from richlazy.experiments.claims import Verdict
from richlazy.experiments.section5 import fig6c, fig6d
from richlazy.store import RunDirectory
from richlazy.sweeps import RunContext

pytestmark = pytest.mark.usefixtures("single_thread")


# ---------------------------------------------------------------------------------------------
# fig6c: the network, the schedule, the sizes


def test_fig6c_network_is_the_mean_field_mlp_with_the_first_layer_over_alpha():
    """Seed 0's N(0, 1) draw, first layer ÷ α, readout × α; the forward pass against the formula
    by hand (÷√fan_in in hidden layers, ÷width at the readout; float64: 1e-12 is the rounding of
    a few hundred products), and the function at α = 10 equal to α = 1's."""
    config = fig6c.PRESETS["paper"]
    reference, upstream = fig6c.mlp(config, 1.0, 0), fig6c.mlp(config, 10.0, 0)
    names = [name for name, _ in reference.named_parameters()]
    assert names == ["hidden.0.weight", "hidden.1.weight", "hidden.2.weight", "readout.weight"]
    weights = {n: p.detach().double() for n, p in reference.named_parameters()}
    moved = {n: p.detach().double() for n, p in upstream.named_parameters()}
    assert abs(float(weights["hidden.1.weight"].std()) - 1.0) < 0.05  # N(0, 1): 4096 draws
    torch.testing.assert_close(moved["hidden.0.weight"], weights["hidden.0.weight"] / 10)
    torch.testing.assert_close(moved["readout.weight"], weights["readout.weight"] * 10)
    torch.testing.assert_close(moved["hidden.1.weight"], weights["hidden.1.weight"])
    x = torch.randn(5, 8, 8, dtype=torch.float64)  # (N, v, s^L): flattened to 64 features

    def by_hand(w):
        h = torch.relu(x.flatten(1) @ w["hidden.0.weight"].T / 8.0)  # √64
        for name in ("hidden.1.weight", "hidden.2.weight"):
            h = torch.relu(h @ w[name].T / 8.0)  # √width
        return h @ w["readout.weight"].T / 64.0  # mean-field readout: ÷ width

    torch.testing.assert_close(reference.double()(x), by_hand(weights), rtol=0, atol=1e-12)
    torch.testing.assert_close(upstream.double()(x), by_hand(moved), rtol=0, atol=1e-12)
    # the knob keeps the function: exactly in exact arithmetic (ReLU is positively homogeneous);
    # here up to the float32 rounding of the stored W/α and α·W (relative 2^-24 per weight, a
    # few such through four layers): 1e-5 of the outputs' scale is far above it
    scale = float(by_hand(weights).abs().max())
    torch.testing.assert_close(by_hand(moved), by_hand(weights), rtol=0, atol=1e-5 * scale)


def test_fig6c_schedule_is_torch_cosine_annealing_stepped_per_epoch():
    """T_max = 200 of 250 epochs, as torch's CosineAnnealingLR stepped after every epoch (its
    recursive form agrees with the closed form to ~1e-14 over 250 epochs): 0 at epoch 200, back
    up to 14.6% of the rate at 250."""
    schedule = fig6c.PRESETS["paper"].schedule()
    assert schedule.T_max == 200.0 and schedule.unit == "epoch"
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=6.4, momentum=0.9)
    torch_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=200.0)
    for epoch in range(250):
        assert abs(6.4 * schedule.factor(epoch) - optimizer.param_groups[0]["lr"]) < 1e-9
        optimizer.step()
        torch_schedule.step()
    assert schedule.factor(200) == pytest.approx(0.0, abs=1e-15)
    assert schedule.factor(250) == pytest.approx((1 + math.cos(math.pi * 1.25)) / 2)


def test_fig6c_presets_are_the_papers_grid_and_absolute_sizes_still_work():
    paper = fig6c.PRESETS["paper"]
    assert paper.p_max == 131072 and len(paper.sizes) == 20
    assert paper.sizes[0] == 128 and paper.sizes[-1] == int(2**-0.5 * 131072) == 92681
    assert (paper.width, paper.depth, paper.batch_size, paper.epochs) == (64, 3, 128, 250)
    assert (paper.lr, paper.momentum, paper.n_test, paper.error_threshold) == (6.4, 0.9, 20000,
                                                                               0.1)  # fmt: skip
    assert paper.alphas == (0.03, 0.1, 0.3, 1.0, 3.0, 10.0) and len(paper.seeds) == 6
    absolute = fig6c.EXPERIMENT.configure("quick", {"train_sizes": (100, 300)})
    assert absolute.sizes == (100, 300)
    settings = fig6c.EXPERIMENT.parse_settings("paper", ["train_sizes=128,4096"])  # the CLI
    assert fig6c.EXPERIMENT.configure("paper", settings).sizes == (128, 4096)
    hcnn = fig6c.PRESETS["hcnn"]
    assert hcnn.model == "hcnn" and hcnn.p_max == 17496 and hcnn.sizes == (128, 256, 512, 1024,
                                                                            2048)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("fig6c", {"alphas": (4.0, 16.0)}, r"alphas must include 1"),
        ("fig6c", {"train_sizes": (100000, 130000)}, r"exceeds the 131072 distinct inputs"),
        ("fig6c", {"train_fractions": (2**-20, 2**-19.9)}, r"must be distinct and at least 1"),
        ("fig6c", {"train_fractions": (0.5, 1.5)}, r"train_fractions\[1\] must be in \(0, 1\]"),
        ("fig6c", {"model": "cnn"}, r"model must be one of mlp, hcnn"),
        ("fig6c", {"error_threshold": 1.5}, r"error_threshold must be in \(0, 1\)"),
        ("fig6d", {"p": 1}, r"p must be an integer"),
        ("fig6d", {"fraction": 1.0}, r"fraction must be in \(0, 1\)"),
        ("fig6d", {"max_steps": 3010}, r"must be a multiple of eval_every"),
        ("fig6d", {"device": "tpu"}, r"device must be one of auto, cpu, cuda"),
        ("fig6d", {"taus": (0.0, 1.0)}, r"taus\[0\] must be"),
        (
            "fig6d",
            {"model": "nanda", "taus": (1.0, 1.5)},
            r"taus must be \(1.0,\) for model 'nanda'",
        ),
        ("fig6d", {"batch_size": 0}, r"batch_size must be"),
    ],
)
def test_bad_section5_options_are_refused(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        experiments.get(name).configure("quick", overrides)


# ---------------------------------------------------------------------------------------------
# fig6c: resumable shards and P*


def test_fig6c_an_interrupted_run_resumes_from_its_finished_shards(tmp_path, monkeypatch):
    """One shard per P (every α and seed in one batch), the largest P first."""
    config = experiments.get("fig6c").configure("smoke", {"seeds": (0, 1)})
    real = fig6c.shard_results
    calls = []

    def interrupted(config, train_size, seed=None, progress=None):
        if calls:
            raise KeyboardInterrupt  # the second shard never finishes
        calls.append(train_size)
        return real(config, train_size, seed, progress)

    directory = RunDirectory(tmp_path, "fig6c")
    directory.prepare(dataclasses.asdict(config))
    monkeypatch.setattr(fig6c, "shard_results", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fig6c.run(config, RunContext(directory=directory))
    assert directory.finished_shards() == ["P-256"]
    resumed = []

    def counting(config, train_size, seed=None, progress=None):
        resumed.append(train_size)
        return real(config, train_size, seed, progress)

    monkeypatch.setattr(fig6c, "shard_results", counting)
    results = fig6c.run(config, RunContext(directory=RunDirectory(tmp_path, "fig6c")))
    assert resumed == [128]  # only the unfinished shard
    assert results.test_error.dims == ("alpha", "train_size", "seed")
    assert results.train_size.values.tolist() == [128, 256] and results.seed.size == 2
    assert results.sample_complexity.dims == ("alpha", "seed")
    np.testing.assert_allclose(results.test_error + results.test_accuracy, 1.0)


def test_fig6c_runs_stop_at_the_first_check_below_target_loss_and_zero_trains_every_epoch():
    """Early stop of the reference (loss < target_loss at every eval_every-th epoch): a target
    above any loss stops every run at the first check; 0 never stops one."""
    config = experiments.get("fig6c").configure(
        "smoke", {"epochs": 4, "eval_every": 2, "target_loss": 100.0, "seeds": (0, 1)}
    )
    stopped = fig6c.shard_results(config, 128)
    assert stopped.epochs.dims == ("alpha", "train_size", "seed")
    assert (stopped.epochs == 2).all()  # the first check after step 0
    full = fig6c.shard_results(dataclasses.replace(config, target_loss=0.0), 128)
    assert (full.epochs == 4).all()
    assert not np.allclose(stopped.train_loss, full.train_loss)  # two more epochs trained
    assert stopped.seed.values.tolist() == [0, 1] and stopped.alpha.size == 2


def test_fig6c_sample_complexity_is_read_at_the_papers_threshold_and_the_relative_one(
    monkeypatch,
):
    """Hand-made errors: 0.5, 0.2, 0.05 at P = 100, 200, 400: error 0.1 is crossed between 200
    and 400 at log P = log 200 + (0.2 − 0.1)/(0.2 − 0.05) · log 2; the relative rule (0.1 ×
    0.875) a little later."""
    config = fig6c.EXPERIMENT.configure("smoke", {"train_sizes": (100, 200, 400), "seeds": (0,)})
    errors = {100: 0.5, 200: 0.2, 400: 0.05}

    def made(config, train_size, seed=None, progress=None):
        error = np.full((2, 1, 1), errors[train_size])
        return xr.Dataset(
            {"test_error": (("alpha", "train_size", "seed"), error),
             "test_accuracy": (("alpha", "train_size", "seed"), 1 - error)},
            coords={"alpha": [1.0, 4.0], "train_size": [train_size], "seed": [0]},
        )  # fmt: skip

    monkeypatch.setattr(fig6c, "shard_results", made)
    results = fig6c.run(config, RunContext())
    expected = 200 * 2 ** ((0.2 - 0.1) / 0.15)
    np.testing.assert_allclose(results.sample_complexity.values, expected, rtol=1e-12)
    relative = 200 * 2 ** ((0.2 - 0.0875) / 0.15)
    np.testing.assert_allclose(results.sample_complexity_relative.values, relative, rtol=1e-12)
    assert (results.sample_complexity_censored == 0).all()


def _hierarchy(p_star: np.ndarray) -> xr.Dataset:
    """Hand-made fig6c results: P* (alpha, seed) with NaN for censored above."""
    alphas = [0.1, 1.0, 10.0]
    censored = np.where(np.isnan(p_star), 1, 0)
    return xr.Dataset(
        {"sample_complexity": (("alpha", "seed"), p_star),
         "sample_complexity_censored": (("alpha", "seed"), censored)},
        coords={"alpha": alphas, "seed": [0, 1, 2]},
    )  # fmt: skip


def test_fig6c_claims_tell_mixed_seeds_from_the_opposite_direction():
    config = fig6c.PRESETS["quick"]
    falls = np.array([[9000.0, np.nan, 8000.0], [6000.0, 7000.0, 5000.0], [4000.0, 5000.0, 3000]])
    found = fig6c.claims(_hierarchy(falls), config)
    assert [c.verdict for c in found] == [Verdict.HOLDS, Verdict.HOLDS]
    assert "falls in every seed" in found[0].note
    mixed = np.array([[5000.0, 6000.0, 8000.0], [6000.0, 7000.0, 5000.0], [6000.0, 7000, 3000]])
    found = fig6c.claims(_hierarchy(mixed), config)
    assert found[0].verdict == Verdict.FAILS and "mixed across seeds" in found[0].note
    opposite = falls[::-1]
    found = fig6c.claims(_hierarchy(opposite), config)
    assert [c.verdict for c in found] == [Verdict.FAILS, Verdict.FAILS]
    assert "the opposite direction" in found[0].note and "opposite direction in every" in (
        found[0].note
    )


# ---------------------------------------------------------------------------------------------
# fig6d: the transformer and its knobs inside the experiment


def test_fig6d_alpha_divides_exactly_the_embeddings_and_tau_scales_logits_and_rate():
    config = fig6d.EXPERIMENT.configure("smoke", {"p": 11, "d_model": 16, "n_heads": 4})
    reference = fig6d.model_at(config, 1.0, 1.0, seed=3)
    moved = fig6d.model_at(config, 10.0, 1.5, seed=3)
    for (name, a), (_, b) in zip(reference.state_dict().items(), moved.state_dict().items(),
                                 strict=True):  # fmt: skip
        if name in ("embed.weight", "pos.weight"):
            torch.testing.assert_close(b, a / 10.0)
        elif name == "tau":
            assert float(a) == 1.0 and float(b) == 1.5
        else:
            assert torch.equal(a, b), name
    split = config.split(0)
    tokens = torch.as_tensor(split.x[:6])  # (6, 4): "x op y ="
    assert tokens.shape == (6, 4) and int(tokens[0, 1]) == 12 and int(tokens[0, 3]) == 11
    logits = reference(tokens)  # (6, p + 2)
    assert logits.shape == (6, 13)
    scaled = fig6d.model_at(config, 1.0, 1.5, seed=3)
    torch.testing.assert_close(scaled(tokens), 1.5 * logits)
    assert config.build_optimizer(1.5).lr == pytest.approx(config.lr / 2.25)
    assert config.build_optimizer(1.0).lr == config.lr


def test_fig6d_presets_are_the_papers_recipe():
    paper = fig6d.PRESETS["paper"]
    assert paper.taus == (0.5, 0.75, 1.0, 1.25, 1.5) and paper.alphas == (0.1, 0.3, 1.0, 3.0,
                                                                          10.0)  # fmt: skip
    assert len(paper.seeds) == 5
    assert (paper.p, paper.fraction, paper.operation) == (97, 0.5, "add")
    assert (paper.d_model, paper.n_heads, paper.hidden, paper.batch_size) == (128, 4, 512, 512)
    adamw = paper.build_optimizer(1.0)
    assert (adamw.lr, adamw.betas, adamw.weight_decay) == (1e-3, (0.9, 0.98), 1.0)
    assert (paper.warmup_steps, paper.max_steps, paper.threshold) == (10, 30000, 0.99)
    assert len(paper.split(0).y) == 4704  # half of the 97² pairs
    nanda = fig6d.PRESETS["nanda"]
    assert nanda.model == "nanda" and nanda.batch_size is None and nanda.threshold == 0.95
    wide = fig6d.EXPERIMENT.configure("paper", {"alphas": (1.0, 32.0, 100.0),
                                                "operation": "divide"})  # fmt: skip
    assert wide.alphas == (1.0, 32.0, 100.0) and len(wide.split(0).y) == 4656


@pytest.mark.parametrize("threshold", [0.99, 0.01])
def test_fig6d_keeps_censored_runs_and_stops_the_others(threshold):
    config = experiments.get("fig6d").configure(
        "smoke",
        dict(alphas=(1.0, 2.0), taus=(1.0,), seeds=(0,), lr=3e-2, weight_decay=0.0,
             max_steps=100, eval_every=20, threshold=threshold),
    )  # fmt: skip
    results = fig6d.run(config, RunContext())
    assert results.train_accuracy.dims == ("alpha", "tau", "seed", "step")
    censored = results.censored.values
    steps = results.steps_to_generalize.values
    assert np.array_equal(np.isnan(steps), censored)  # NaN exactly where censored
    assert not results.diverged.any()
    # 99% of 24 validation pairs is out of reach in 100 steps; 1% is passed at once
    assert censored.all() if threshold > 0.5 else not censored.any()
    for i in range(2):  # a run that generalized stopped there: NaN after its step
        if not censored[i, 0, 0]:
            after = results.step.values > steps[i, 0, 0]
            assert after.any() and np.isnan(results.test_accuracy.values[i, 0, 0, after]).all()


def test_fig6d_an_interrupted_run_resumes_from_its_finished_shards(tmp_path, monkeypatch):
    config = experiments.get("fig6d").configure("smoke", {"seeds": (0,), "max_steps": 10})
    real = fig6d.shard_results
    seen = []

    def interrupted(config, tau, seed, progress=None):
        if seen:
            raise KeyboardInterrupt
        seen.append(tau)
        return real(config, tau, seed, progress)

    directory = RunDirectory(tmp_path, "fig6d")
    directory.prepare(dataclasses.asdict(config))
    monkeypatch.setattr(fig6d, "shard_results", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fig6d.run(config, RunContext(directory=directory))
    assert directory.finished_shards() == ["tau-1-seed-0"]
    resumed = []

    def counting(config, tau, seed, progress=None):
        resumed.append(tau)
        return real(config, tau, seed, progress)

    monkeypatch.setattr(fig6d, "shard_results", counting)
    results = fig6d.run(config, RunContext(directory=RunDirectory(tmp_path, "fig6d")))
    assert resumed == [1.5]
    assert results.steps_to_generalize.dims == ("alpha", "tau", "seed")


def test_fig6d_counts_reaching_the_threshold_exactly_as_grokked(monkeypatch):
    """ "≥ 0.99": a validation accuracy of exactly the threshold is grokked at that step."""
    config = fig6d.EXPERIMENT.configure("smoke", {"seeds": (0,), "taus": (1.0,),
                                                  "threshold": 0.5})  # fmt: skip
    import richlazy.experiments.section5.fig6d as module

    def fake_fit(models, *args, eval_steps, until, **kwargs):
        steps = np.asarray(eval_steps)
        accuracy = np.tile(np.where(steps >= 10, 0.5, 0.25), (len(models), 1))  # (R, S)
        history = xr.Dataset(
            {name: (("run", "step"), accuracy)
             for name in ("train_accuracy", "test_accuracy", "train_loss", "test_loss")},
            coords={"step": steps},
        )  # fmt: skip
        return history.assign(stopped_step=("run", np.full(len(models), 10)))

    monkeypatch.setattr(module, "fit", fake_fit)
    results = fig6d.run(config, RunContext())
    assert (results.steps_to_generalize == 10).all() and not results.censored.any()
    assert (results.steps_to_memorize == 10).all()


def _grokking(steps: np.ndarray, taus=(1.0,)) -> xr.Dataset:
    """Hand-made fig6d results: steps (alpha, tau, seed) with NaN for censored runs."""
    return xr.Dataset(
        {"steps_to_generalize": (("alpha", "tau", "seed"), steps),
         "censored": (("alpha", "tau", "seed"), np.isnan(steps))},
        coords={"alpha": [0.1, 1.0, 10.0], "tau": list(taus), "seed": [0, 1, 2]},
    )  # fmt: skip


def test_fig6d_claims_count_censored_runs_as_later_and_find_the_fastest_cell():
    config = fig6d.PRESETS["paper"]
    verdicts = lambda results: [c.verdict for c in fig6d.claims(results, config)]  # noqa: E731
    sooner = np.array([[3000.0, np.nan, 2000.0], [1500.0, 1600.0, 1400.0], [700, 900, 800]])
    assert verdicts(_grokking(sooner[:, None])) == [Verdict.HOLDS, Verdict.HOLDS]
    # within one measurement interval (100 steps) a rise still counts as "falls"
    flat = np.array([[1500.0, 1600.0, 1400.0], [1500.0, 1700.0, 1500.0], [700, 900, 800]])
    assert verdicts(_grokking(flat[:, None]))[0] == Verdict.HOLDS
    later = sooner[::-1]
    found = fig6d.claims(_grokking(later[:, None]), config)
    assert [c.verdict for c in found] == [Verdict.FAILS, Verdict.HOLDS]  # fastest at α = 0.1
    assert "the opposite direction" in found[0].note
    balanced = np.array([[3000.0, 2000.0, 2500.0], [500.0, 600.0, 400.0], [700, 900, 800]])
    assert verdicts(_grokking(balanced[:, None])) == [Verdict.FAILS, Verdict.FAILS]
    never = np.full((3, 1, 3), np.nan)
    assert verdicts(_grokking(never)) == [Verdict.NOT_MEASURED, Verdict.NOT_MEASURED]
    two_taus = np.stack([sooner, sooner * 0.5], axis=1)  # τ = 1.5 faster everywhere
    found = fig6d.claims(_grokking(two_taus, taus=(1.0, 1.5)), config)
    assert "τ = 1.5, α = 10: 400 steps" in found[1].measured


@pytest.mark.parametrize(
    ("name", "options", "blamed"),
    [
        ("fig6d", {"max_steps": 10**9, "eval_every": 1}, "max_steps, eval_every"),
        ("fig6d", {"p": 32749}, "p"),
        ("fig6c", {"max_steps": 10**9, "eval_every": 1}, "max_steps, eval_every"),
    ],
)
def test_sizes_beyond_memory_are_refused_before_anything_is_built(name, options, blamed):
    """Tens of GB of schedule or table refused by name when the config is built (a MemoryError
    midway before)."""
    with pytest.raises(ValueError, match=rf"^{blamed}: these sizes need at least .* GiB"):
        experiments.get(name).configure("paper", options)
