"""The checks configs declare on their fields (richlazy._validate: option, Checked and the
check makers), and that every experiment's config runs them."""

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest

from richlazy import _validate as check
from richlazy import experiments
from richlazy._validate import Checked, declared_check, option


@dataclass(frozen=True)
class Base(Checked):
    steps: int = option(10, check.whole())
    rate: float = option(0.5, check.interval(0, 1, "[)"))
    label: str = "free"  # no check declared

    def __post_init__(self):
        super().__post_init__()
        check.require(self.steps * self.rate < 100, "steps × rate must be < 100")


@dataclass(frozen=True)
class NewDefault(Base):
    steps: int = 20  # a new default only: Base's check still holds


@dataclass(frozen=True)
class NewCheck(Base):
    steps: int = option(4, check.whole(2, even=True))


def test_a_declared_check_refuses_and_a_subclass_keeps_it_unless_it_declares_its_own():
    assert Base().steps == 10 and NewDefault().steps == 20 and NewCheck().steps == 4
    for config in (Base, NewDefault):
        with pytest.raises(ValueError, match=r"^steps must be an integer >= 1, got 0$"):
            config(steps=0)
    with pytest.raises(ValueError, match=r"^steps must be an even integer >= 2, got 3$"):
        NewCheck(steps=3)
    assert NewCheck(steps=2).steps == 2  # Base's minimum 1 is replaced, not added
    assert Base(label=object()).label is not None  # a field without a check is not checked
    assert declared_check(NewDefault, "steps") is declared_check(Base, "steps")
    assert declared_check(Base, "label") is None


def test_field_checks_run_in_field_order_before_the_checks_that_relate_fields():
    with pytest.raises(ValueError, match=r"^steps"):
        Base(steps=-1, rate=2.0)
    with pytest.raises(ValueError, match=r"^rate"):
        Base(steps=1000, rate=2.0)  # rate refused before the product is formed
    with pytest.raises(ValueError, match=r"^steps × rate"):
        Base(steps=1000, rate=0.5)
    with pytest.raises(ValueError, match=r"^rate"):  # also when the values are replaced
        dataclasses.replace(Base(), rate=1.0)


def test_whole_takes_ints_only_within_its_bounds():
    whole = check.whole(2, maximum=8, even=True)
    for value in (2, 8, np.int64(4)):
        whole("n", value)
    for value, kind in ((True, TypeError), (4.0, TypeError), ("4", TypeError), (1, ValueError),
                        (10, ValueError), (5, ValueError)):  # fmt: skip
        with pytest.raises(kind, match=r"^n must be an"):
            whole("n", value)


@pytest.mark.parametrize(
    ("brackets", "accepted", "refused"),
    [("()", [0.5], [0, 1]), ("[)", [0, 0.5], [1]), ("(]", [0.5, 1], [0]), ("[]", [0, 1], [])],
)
def test_interval_ends_are_open_or_closed_as_the_brackets_say(brackets, accepted, refused):
    inside = check.interval(0, 1, brackets)
    for value in accepted:
        inside("x", value)
    for value in [*refused, -0.1, 1.1]:
        with pytest.raises(ValueError, match=rf"^x must be in \{brackets[0]}0, 1\{brackets[1]}"):
            inside("x", value)
    for value, kind in ((float("nan"), ValueError), ("0.5", TypeError), (0.5j, TypeError)):
        with pytest.raises(kind, match=r"^x must be"):
            inside("x", value)
    with pytest.raises(ValueError, match="brackets"):
        check.interval(0, 1, "<>")


def test_one_of_names_the_choices():
    check.one_of(("gd", "gf"))("method", "gf")
    with pytest.raises(ValueError, match=r"^method must be one of gd, gf, got 'rk4'$"):
        check.one_of(("gd", "gf"))("method", "rk4")


def test_tuple_of_checks_each_item_by_its_index_then_the_whole():
    positives = check.tuple_of(check.positive_float)
    positives("alphas", (0.5, 2.0))
    positives("alphas", [0.5, 2.0])
    for value, kind, message in [
        (0.5, TypeError, r"^alphas must be a tuple, got float 0.5"),
        ((), ValueError, r"^alphas needs at least 1 value, got \(\)"),
        ((0.5, -1.0), ValueError, r"^alphas\[1\] must be positive"),
        ((0.5, 0.5), ValueError, r"^alphas must hold each value once"),
    ]:
        with pytest.raises(kind, match=message):
            positives("alphas", value)
    check.tuple_of(once=False)("sigma", (1.0, 1.0))  # repeats allowed where asked
    increasing = check.tuple_of(check.whole(), increasing=True, at_least=2)
    increasing("sizes", (1, 2))
    for value, message in [((1,), r"needs at least 2 values"), ((2, 1), r"strictly increasing"),
                           ((1, 1.5), r"^sizes\[1\] must be an integer")]:  # fmt: skip
        with pytest.raises((ValueError, TypeError), match=message):
            increasing("sizes", value)


def _checked_options(config) -> list[str]:
    return [f.name for f in dataclasses.fields(config) if declared_check(type(config), f.name)]


@pytest.mark.parametrize("name", experiments.names())
def test_every_experiment_config_checks_the_options_it_declares(name):
    """Each declared check runs when the config is built: an object of no accepted kind is
    refused with a message naming the option (the preset's other values are left as they are)."""
    config = next(iter(experiments.get(name).presets.values()))
    options = _checked_options(config)
    assert options, f"{name}'s config declares no checks"
    for option_name in options:
        with pytest.raises((ValueError, TypeError), match=rf"^{option_name}\b"):
            dataclasses.replace(config, **{option_name: object()})
