"""registry.json validation: every malformed entry is refused naming the entry and the key."""
from __future__ import annotations

import copy
import json

import pytest
import torch

import zoo
from zoo.errors import RegistryError, UnknownModelError
from zoo.paths import REPO_DIR
from zoo.registry import Registry, load_registry, natural_key, parse_entry
from zoo.schema import SchemaError

BASE = json.loads((REPO_DIR / "registry.json").read_text())


def _with(name: str, mutate) -> str:
    data = copy.deepcopy(BASE)
    mutate(data["models"][name])
    return json.dumps(data)


def test_shipped_registry_is_valid_and_complete():
    registry = load_registry()
    assert len(registry) >= 10
    for name in registry.names():
        entry = registry.get(name)
        assert entry.name == name
        assert entry.dataset in ("mnist", "fashion-mnist", "mnist-binary")
        assert entry.recipe.notes, f"{name}: say why the recipe is what it is"
    assert zoo.get_entry("denoising").recipe.noise is not None
    assert zoo.get_entry("fashion-64").dataset == "fashion-mnist"


@pytest.mark.parametrize(
    "mutate, key, words",
    [
        (lambda e: e.update(colour="red"), "colour", "unknown key"),
        (lambda e: e.pop("dataset"), "dataset", "missing required key"),
        (lambda e: e["recipe"].pop("epochs"), "recipe.epochs", "missing required key"),
        (lambda e: e["recipe"].update(lr="fast"), "recipe.lr", "expected a number"),
        (lambda e: e["recipe"].update(lr=-0.1), "recipe.lr", "must be > 0"),
        (lambda e: e["recipe"].update(batch_size=0), "recipe.batch_size", "must be >= 1"),
        (lambda e: e["recipe"].update(batch_size=12.5), "recipe.batch_size", "expected an integer"),
        (lambda e: e["recipe"].update(epochs=True), "recipe.epochs", "expected an integer"),
        (lambda e: e["recipe"]["early_stopping"].update(patience=0), "recipe.early_stopping.patience", ">= 1"),
        (lambda e: e["recipe"]["early_stopping"].update(wait=3), "recipe.early_stopping.wait", "unknown key"),
        (lambda e: e["recipe"].update(optimizer="adamm"), "recipe.optimizer", "Did you mean 'adam'"),
        (lambda e: e["recipe"]["optimizer_kwargs"].update(momentum=1.5), "recipe.optimizer_kwargs.momentum", "[0, 1)"),
        (lambda e: e["recipe"]["optimizer_kwargs"].update(betas=[0.9]), "recipe.optimizer_kwargs", "unknown key"),
        (lambda e: e["recipe"].update(loss="l1"), "recipe.loss", "one of"),
        (lambda e: e["recipe"].update(noise={"type": "gaussian"}), "recipe.noise.std", "needs std"),
        (lambda e: e["recipe"].update(noise={"type": "masking", "p": 2}), "recipe.noise.p", "(0, 1)"),
        (lambda e: e.update(dataset="cifar10"), "dataset", "one of"),
        (lambda e: e.update(family="aee"), "family", "Did you mean 'ae'"),
        (lambda e: e["network"].update(type="mpl"), "network.type", "Did you mean 'mlp'"),
        (lambda e: e.update(network={"type": "mlp", "channels": [8]}), "network.channels", "unknown key"),
        (lambda e: e.update(network=[512]), "network", "expected an object"),
        (lambda e: e.update(network={"hidden": [8]}), "network", 'expected an object with a "type"'),
        (lambda e: e["kwargs"].update(latent_dim=0), "kwargs.latent_dim", "positive"),
        (lambda e: e["kwargs"].update(latent_dim=1000), "kwargs.latent_dim", "wider than the 784-pixel input"),
        (lambda e: e["network"].update(hidden=[128, -4]), "network.hidden[1]", "must be 1.."),
        (lambda e: e["network"].update(hidden="128"), "network.hidden", "expected a list of an integer"),
        (lambda e: e["network"].update(activation="rleu"), "network.activation", "Did you mean 'relu'"),
        (lambda e: e["kwargs"].update(hidden=[128]), "kwargs.hidden", "unknown key"),
        (lambda e: e["kwargs"].update(dropout=0.1), "kwargs.dropout", "unknown key"),
        (lambda e: e.update(description=""), "description", "must not be empty"),
        (lambda e: e.update({"a\nb": 1}), '"a\\nb"', "unknown key"),  # found by hypothesis: stays one line
        (lambda e: e["recipe"]["optimizer_kwargs"].update({"x.y": 1}), 'optimizer_kwargs."x.y"', "unknown key"),
    ],
)
def test_malformed_entry_is_refused_naming_entry_and_key(mutate, key, words):
    # the optimizer_kwargs case for an SGD entry: betas is Adam's, not SGD's
    with pytest.raises(RegistryError) as info:
        Registry.from_json(_with("linear-128", mutate))
    message = str(info.value)
    assert "entry 'linear-128'" in message and key in message and words in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "text, words",
    [
        ('{"version": 1, "models": {', "not valid JSON"),
        ('{"version": 1, "models": {"a": {}, "a": {}}}', "duplicate key 'a'"),
        ('{"models": {}}', "top level"),
        ('{"version": 2, "models": {"a": {}}}', "unsupported version"),
        ('{"version": 1, "models": {}}', "non-empty"),
        ('[]', "top level"),
    ],
)
def test_malformed_file_is_refused(text, words):
    with pytest.raises(RegistryError, match="registry.json") as info:
        Registry.from_json(text)
    assert words in str(info.value)


@pytest.mark.parametrize("bad", ["../etc", "/abs/path", "Upper", "has space", "a/b", ""])
def test_entry_names_cannot_be_paths(bad):
    data = copy.deepcopy(BASE)
    data["models"][bad] = data["models"]["linear-128"]
    with pytest.raises(RegistryError, match="Invalid model name"):
        Registry.from_json(json.dumps(data))


def test_list_models_wildcards_and_natural_sort():
    assert zoo.list_models("deep-*") == ["deep-64", "deep-784-2", "deep-784-32"]
    assert zoo.list_models("*-32") == ["conv-32", "deep-784-32"]
    assert zoo.list_models(["vae*", "hinton*"]) == ["hinton-30", "hinton-30-rbm", "vae-16", "vae-binary"]
    assert zoo.list_models("*-binary") == ["iwae-binary", "vae-binary", "vamp-binary"]
    assert zoo.list_models("nothing*") == []
    assert sorted(["a-10", "a-9", "a-100"], key=natural_key) == ["a-9", "a-10", "a-100"]


def test_unknown_name_suggests_the_close_one():
    with pytest.raises(UnknownModelError) as info:
        zoo.get_entry("linear-12")
    assert str(info.value) == "Unknown model 'linear-12'. Did you mean 'linear-128'?"
    with pytest.raises(UnknownModelError, match="See `zoo list`"):
        zoo.get_entry("qqqqqq")


def test_zoo_registry_env_points_at_another_file(tmp_path, monkeypatch):
    data = {"version": 1, "models": {"mine": copy.deepcopy(BASE["models"]["deep-784-32"])}}
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    assert "mine" in zoo.list_models() and "deep-784-32" in zoo.list_models()  # layered over the built-in one
    path.write_text("{broken")
    with pytest.raises(RegistryError, match="not valid JSON"):
        zoo.list_models()


def test_recipe_replace_validates_overrides():
    recipe = zoo.get_entry("fashion-64").recipe
    changed = recipe.replace(lr=0.01, early_stopping={"patience": 2})
    assert changed.lr == 0.01 and changed.early_stopping.patience == 2
    assert changed.early_stopping.min_delta == recipe.early_stopping.min_delta
    with pytest.raises(ValueError, match="batch_size"):
        recipe.replace(batch_size=0)


def test_the_smallest_entry_the_docs_give_takes_every_default():
    text = (REPO_DIR / "docs" / "registry.md").read_text()
    raw = text[text.index("The smallest entry: `") + len("The smallest entry: `"):].split("` trains")[0]
    entry = parse_entry("mine", json.loads(raw.replace("\n", " ")))
    r = entry.recipe
    assert (r.epochs, r.optimizer, r.lr, r.batch_size, r.loss, r.seed) == (20, "adam", 1e-3, 128, "mse", 0)
    assert r.early_stopping is None and r.scheduler is None and r.noise is None and r.pretrain is None
    # without an early-stopping rule no run stops early; --patience on such a recipe starts one
    from zoo.training.stopping import EarlyStopping

    stopper = EarlyStopping.from_rule(r.early_stopping)
    for epoch in range(100):
        stopper.step(1.0 + epoch, epoch)
    assert not stopper.should_stop and stopper.best_epoch == 0
    assert r.replace(patience=3).early_stopping.patience == 3
    with pytest.raises(SchemaError, match="patience"):
        r.replace(min_delta=0.1)  # a min_delta alone is no rule


def test_loading_the_registry_counts_parameters_without_torch_reference_kernels():
    """Every entry's model is built on the meta device for its parameter count at load; a random fill (or a
    ``*_like`` factory) there runs through torch's Python reference kernels, whose first use imports ~900
    modules (1.6 s of every command's start-up). The count must not need them."""
    import subprocess
    import sys

    code = "import sys, zoo.registry as r; before = set(sys.modules); r.load_registry(); print(len(set(sys.modules) - before))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_DIR)
    assert int(out.stdout) < 100  # 892 modules when a fill ran on meta


def test_parameter_count_on_meta_covers_every_kind_of_initialisation():
    """The meta build skips random fills (their values are never read), and counts the same parameters."""
    from torch import nn

    from zoo.entries import _NoInit

    def build():
        torch.manual_seed(0)
        layer = nn.Linear(7, 5)
        nn.init.orthogonal_(layer.weight)
        nn.init.trunc_normal_(layer.bias)
        return nn.Sequential(layer, nn.Conv2d(3, 4, 3), nn.Embedding(10, 6))

    with torch.device("meta"), _NoInit():
        meta = build()
    assert [p.shape for p in meta.parameters()] == [p.shape for p in build().parameters()]
    assert all(p.is_meta for p in meta.parameters())
