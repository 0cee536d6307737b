"""Property-based tests: registry validation never crashes, metadata round-trips, checksums catch flips."""
from __future__ import annotations

import copy
import json

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoo
from zoo.data import BUILTIN_DATASETS, image_shape
from zoo.errors import RegistryError
from zoo.io import CHECKSUM_KEY, tensors_sha256
from zoo.paths import REPO_DIR
from zoo.registry import Registry
from zoo.weights import entry_from_file, read_metadata, save_weights

BASE = json.loads((REPO_DIR / "registry.json").read_text())
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def paths(obj, prefix=()):
    """Every key path inside a JSON object (dicts only)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield prefix + (key,)
            yield from paths(value, prefix + (key,))


@st.composite
def mutated_registries(draw):
    data = copy.deepcopy(BASE)
    name = draw(st.sampled_from(sorted(data["models"])))
    entry = data["models"][name]
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        all_paths = list(paths(entry))
        path = draw(st.sampled_from(all_paths))
        parent = entry
        for key in path[:-1]:
            parent = parent[key]
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        else:
            parent[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    return name, json.dumps(data)


@SETTINGS
@given(mutated_registries())
def test_registry_validation_accepts_or_refuses_with_one_line(case):
    name, text = case
    try:
        registry = Registry.from_json(text)
    except RegistryError as exc:
        message = str(exc)
        assert message.startswith(f"registry.json: entry {name!r}: ") or message.startswith("registry.json is not valid JSON")
        assert "\n" not in message and len(message) < 600
    else:  # accepted: then it builds and says what it is
        entry = registry.get(name)
        if entry.dataset not in BUILTIN_DATASETS:  # a user's data set ("0/", "/"...) is read only when a run uses it
            return
        assert entry.build(image_shape(entry.dataset)).latent_dim == entry.latent_dim
        assert Registry.from_json(json.dumps({"version": 1, "models": {name: entry.to_dict()}})).get(name) == entry


metadata_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


@SETTINGS
@given(extra=st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), metadata_values, max_size=5))
def test_weights_metadata_round_trips(tmp_path, extra):
    torch.manual_seed(0)
    model = zoo.load("deep-784-32", pretrained=False, device="cpu")
    path = tmp_path / "m.safetensors"
    save_weights(path, model, model.entry, **extra)
    meta = read_metadata(path)
    for key, value in extra.items():
        assert json.loads(meta[f"zoo.{key}"]) == value
    entry, _ = entry_from_file(path)
    assert entry == model.entry and entry.name == "deep-784-32"
    loaded = zoo.load(path, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_the_tensor_checksum_catches_any_flipped_byte(data):
    tensors = {"a": torch.arange(12, dtype=torch.float32).view(3, 4), "b": torch.tensor([1, 2, 3], dtype=torch.uint8),
               "c": torch.tensor(2.5, dtype=torch.float64)}
    digest = tensors_sha256(tensors)
    name = data.draw(st.sampled_from(sorted(tensors)))
    raw = tensors[name].reshape(-1).view(torch.uint8).clone()
    index = data.draw(st.integers(0, raw.numel() - 1))
    bit = data.draw(st.integers(0, 7))
    raw[index] ^= 1 << bit
    flipped = dict(tensors)
    flipped[name] = raw.view(tensors[name].dtype).view(tensors[name].shape)
    assert tensors_sha256(flipped) != digest
    assert CHECKSUM_KEY.startswith("zoo.")
