"""Parts of a run's state: any state dict to tensors + JSON and back, and the objective registry."""
from __future__ import annotations

import json
import math

import pytest
import torch

from zoo.errors import RegistryError
from zoo.training import Objective, register_objective
from zoo.training.objectives import get_objective
from zoo.training.parts import flatten, unflatten


def test_an_optimizer_and_scheduler_state_round_trip_through_tensors_and_json():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1, betas=(0.8, 0.9))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    sched.step()
    for state in (opt.state_dict(), sched.state_dict()):
        tensors, skeleton = flatten(state, "opt")
        back = unflatten(tensors, json.loads(json.dumps(skeleton)))
        assert json.dumps(skeleton)  # JSON only, no pickle
        assert repr(back) == repr(state)
    tensors, skeleton = flatten(opt.state_dict(), "opt")
    assert set(tensors) == {f"opt.state.{i}.{k}" for i in (0, 1) for k in ("step", "exp_avg", "exp_avg_sq")}
    restored = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    restored.load_state_dict(unflatten(tensors, json.loads(json.dumps(skeleton))))
    assert restored.param_groups[0]["betas"] == (0.8, 0.9)


def test_odd_values_keep_their_kind_and_other_objects_are_refused():
    state = {"inf": math.inf, "keys": {1: "a", "@x": 2}, "t": (1, [torch.arange(3)]), "none": None}
    tensors, skeleton = flatten(state, "p")
    back = unflatten(tensors, json.loads(json.dumps(skeleton, allow_nan=False)))
    assert back["inf"] == math.inf and back["keys"] == {1: "a", "@x": 2} and back["none"] is None
    assert isinstance(back["t"], tuple) and torch.equal(back["t"][1][0], torch.arange(3))
    with pytest.raises(TypeError, match="the state at p.f is a object"):
        flatten({"f": object()}, "p")


def test_register_objective_refuses_a_second_key_and_a_non_objective():
    with pytest.raises(RegistryError, match="already registered under 'single'"):
        register_objective("single")(type("Again", (Objective,), {}))
    with pytest.raises(RegistryError, match="subclass of zoo.Objective"):
        register_objective("not-an-objective")(int)
    with pytest.raises(RegistryError, match="Did you mean 'alternating'"):
        get_objective("alternatin")
