"""Recipe options reach torch, and one overrides table feeds click, zoo.train and Recipe.replace."""
from __future__ import annotations

import inspect
import re

import pytest
import torch
from click.testing import CliRunner

import zoo
from zoo.cli import main
from zoo.recipe import OVERRIDES, Recipe
from zoo.schema import SchemaError, from_dict
from zoo.training.optimizers import make_optimizer, make_scheduler

BASE = {"optimizer": "adam", "lr": 0.01, "batch_size": 8, "epochs": 4, "loss": "mse",
        "early_stopping": {"patience": 2}, "seed": 0}


def recipe(**changes):
    return from_dict(Recipe, {**BASE, **changes})


@pytest.mark.parametrize("name, kwargs", [
    ("sgd", {"momentum": 0.5, "nesterov": True, "weight_decay": 0.1}),
    ("adam", {"betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.2, "amsgrad": True}),
    ("adamw", {"betas": [0.5, 0.9], "eps": 1e-7, "weight_decay": 0.05}),
])
@pytest.mark.parametrize("fused", [True, False])
def test_every_optimizer_setting_reaches_torch(name, kwargs, fused):
    r = recipe(optimizer=name, optimizer_kwargs=kwargs)
    opt = make_optimizer(r, [torch.nn.Parameter(torch.zeros(3))], fused=fused)
    assert type(opt).__name__.lower() == name and opt.defaults["lr"] == 0.01
    for key, value in kwargs.items():
        assert opt.defaults[key] == (tuple(value) if key == "betas" else value), key


def test_step_schedule_decays_once_an_epoch_and_cosine_every_step():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = make_optimizer(recipe(scheduler={"type": "step", "step_size": 2, "gamma": 0.5}), [p])
    sched, per_step = make_scheduler(recipe(scheduler={"type": "step", "step_size": 2, "gamma": 0.5}), opt, 10)
    assert not per_step
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.01, 0.01, 0.005, 0.005])
    opt = make_optimizer(recipe(scheduler={"type": "cosine"}), [p])
    sched, per_step = make_scheduler(recipe(scheduler={"type": "cosine"}), opt, 10)
    assert per_step and sched.T_max == 40  # 4 epochs of 10 steps


def test_one_overrides_table_feeds_the_cli_the_python_api_and_replace():
    help_text = CliRunner().invoke(main, ["train", "--help"]).output
    keywords = inspect.signature(zoo.train).parameters
    r = recipe(pretrain={"type": "rbm"})
    for o in OVERRIDES:
        assert o.flag in help_text and o.name in keywords, o.name
        value = 3 if o.type is int else 0.25
        assert r.replace(**{o.name: value}).value(o.name) == value
    assert r.replace(patience=None) == r  # None keeps the recipe's value


def test_a_pretraining_override_needs_a_recipe_with_the_stage():
    plain = recipe()
    assert plain.value("pretrain_epochs") is None
    with pytest.raises(SchemaError, match="pretrain_epochs: this recipe has no pretrain stage"):
        plain.replace(pretrain_epochs=2)
    staged = recipe(pretrain={"type": "rbm"})
    assert staged.pretrain.epochs == 50 and staged.pretrain.lr == 0.1 and staged.pretrain.lr_linear == 0.001
    assert staged.replace(pretrain_epochs=0).pretrain.epochs == 0  # the ablation
    for bad, words in [({"type": "rbm", "epochs": -1}, "epochs: must be >= 0"),
                       ({"type": "rbm", "momentum": 1.0}, "momentum: must be in [0, 1)"),
                       ({"type": "dbn"}, "type"), ({"type": "rbm", "lr_linear": 0}, "lr_linear: must be > 0")]:
        with pytest.raises(SchemaError, match=re.escape(words)):
            recipe(pretrain=bad)


# ---------------------------------------------------------------------- --set KEY=VALUE
def test_settings_reach_any_recipe_field_by_its_dotted_path_and_are_validated():
    from zoo.recipe import parse_setting
    from zoo.registry import get_entry
    from zoo.schema import SchemaError

    recipe = get_entry("deep-784-32").recipe
    changed = recipe.with_settings(dict(map(parse_setting, ["early_stopping.patience=10", "scheduler.type=cosine",
                                                            "optimizer_kwargs.betas=[0.8, 0.9]", "notes=tuned"])))
    assert changed.early_stopping.patience == 10 and changed.scheduler.type == "cosine"
    assert changed.optimizer_kwargs["betas"] == [0.8, 0.9] and changed.notes == "tuned"
    assert changed.early_stopping.min_delta == recipe.early_stopping.min_delta  # the rest kept
    assert recipe.with_settings({"scheduler": None}).scheduler is None
    for setting, message in (({"early_stopping.patienc": 3}, "early_stopping.patienc: unknown key. Did you mean 'patience'"),
                             ({"lr.x": 1}, "lr: is 0.001 in this recipe"),
                             ({"early_stopping.patience": 0}, "early_stopping.patience: must be >= 1"),
                             ({"pretrain.epochs": 2}, "pretrain.type"),
                             ({"optimizer": "adamm"}, "Did you mean 'adam'")):
        with pytest.raises(SchemaError, match=message):
            recipe.with_settings(setting)
    assert parse_setting("lr=1e-3") == ("lr", 0.001) and parse_setting("scheduler=null") == ("scheduler", None)
    with pytest.raises(SchemaError, match="KEY=VALUE"):
        parse_setting("patience")
