"""Models as Hugging Face Hub repositories: zoo export --format hf, hf:// names read from the Hub's cache
(laid out here as huggingface_hub lays it out, read with HF_HUB_OFFLINE=1), and zoo push failing in one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import zoo
from zoo.cli import main
from zoo.paths import REPO_DIR
from zoo.registry import parse_entry

h = pytest.importorskip("huggingface_hub", reason="huggingface_hub (the hub extra, in the test extra)")

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def lay_out_cache(cache: Path, repo: str, folder: Path, commit: str = COMMIT, ref: str = "main") -> Path:
    """The Hub cache's layout: blobs, a snapshot of symlinks to them, and refs/<ref> naming the commit."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (root / "blobs").mkdir(exist_ok=True)
    for file in folder.iterdir():
        blob = root / "blobs" / f"{commit}-{file.name}"
        blob.write_bytes(file.read_bytes())
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / ref).write_text(commit)
    return snapshot


def run_python(code: str, cache: Path, **extra: str) -> subprocess.CompletedProcess:
    """In a fresh process: huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE when it is imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_DIR), **extra)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def run_zoo(args, cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_DIR))
    return subprocess.run([str(Path(sys.executable).parent / "zoo"), *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("hf") / "deep-784-32"
    result = cli("export", "deep-784-32", "--format", "hf", "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_the_export_is_a_hub_repository_whose_card_huggingface_hub_parses(exported):
    assert sorted(p.name for p in exported.iterdir()) == ["README.md", "card.json", "config.json", "losses.png",
                                                          "model.safetensors", "reconstructions.png"]
    assert (exported / "model.safetensors").read_bytes() == (REPO_DIR / "weights" / "deep-784-32" / "model.safetensors").read_bytes()
    config = json.loads((exported / "config.json").read_text())
    assert config["library_name"] == "zoo" and parse_entry("deep-784-32", config["entry"]) == zoo.get_entry("deep-784-32")
    card = h.ModelCard.load(exported / "README.md")
    data = card.data
    assert data.library_name == "zoo" and data.license == "mit" and data.datasets == ["ylecun/mnist"]
    assert {"autoencoder", "zoo", "mlp", "mnist"} <= set(data.tags)
    shipped = json.loads((REPO_DIR / "weights" / "deep-784-32" / "card.json").read_text())["test"]["reconstruction"]["model"]
    values = {r.metric_type: r.metric_value for r in data.eval_results}
    assert values == pytest.approx({m: round(shipped[m], 6) for m in ("mse", "psnr", "ssim", "bce")})
    assert {r.dataset_split for r in data.eval_results} == {"test"} and data.model_name == "deep-784-32"


def test_an_export_keeps_what_is_there(exported, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep")
    result = cli("export", "deep-784-32", "--format", "hf", "--out", tmp_path / "busy")
    assert result.exit_code == 2 and "--force" in result.output and result.output.count("\n") == 1
    assert cli("export", "deep-784-32", "--format", "hf", "--part", "encoder", "--out", tmp_path / "x").exit_code == 2
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["mine.txt"]


def test_the_hub_cache_is_checked_blob_hashes_symlinks_and_refs(exported, tmp_path):
    import hashlib

    cache = tmp_path / "hub"
    snapshot = lay_out_cache(cache, "someone/deep", exported)
    root = cache / "models--someone--deep"
    # an LFS blob is named by the SHA-256 of its content, as the Hub's cache names it
    link = snapshot / "model.safetensors"
    old = link.resolve()
    sha = hashlib.sha256(old.read_bytes()).hexdigest()
    old.rename(root / "blobs" / sha)
    link.unlink()
    link.symlink_to(os.path.relpath(root / "blobs" / sha, snapshot))
    assert run_zoo(["eval", "hf://someone/deep", "--limit", "20", "--no-baseline"], cache).returncode == 0
    # a blob whose content no longer has its name's hash: another zoo model's valid file put in its place
    good = (root / "blobs" / sha).read_bytes()
    (root / "blobs" / sha).write_bytes((REPO_DIR / "weights" / "linear-128" / "model.safetensors").read_bytes())
    refused = run_zoo(["eval", "hf://someone/deep", "--limit", "20"], cache)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "no longer matches its SHA-256" in refused.stderr
    (root / "blobs" / sha).write_bytes(good)
    # a snapshot file that is a symlink out of the cache
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes(good)
    link.unlink()
    link.symlink_to(outside)
    refused = run_zoo(["eval", "hf://someone/deep", "--limit", "20"], cache)
    assert refused.returncode == 1 and "leads outside the repository's cache folder" in refused.stderr, refused.stderr
    # refs/main naming a path out of the snapshots
    link.unlink()
    link.symlink_to(os.path.relpath(root / "blobs" / sha, snapshot))
    (root / "refs" / "main").write_text("../..")
    refused = run_zoo(["eval", "hf://someone/deep", "--limit", "20"], cache)
    assert refused.returncode in (1, 2) and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr, \
        refused.stderr


def test_hf_names_load_from_the_hub_cache_offline_bitwise_and_refuse_a_tampered_file(exported, tmp_path):
    cache = tmp_path / "hub"
    lay_out_cache(cache, "someone/deep", exported)
    code = """
import json, sys, torch, zoo
a, b = zoo.load("hf://someone/deep", device="cpu"), zoo.load("deep-784-32", device="cpu")
same = all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
by_rev = zoo.load("hf://someone/deep@%s", device="cpu")
print(json.dumps({"same": same, "n": len(a.state_dict()), "name": a.entry.name,
                  "rev": all(torch.equal(x, y) for x, y in zip(by_rev.state_dict().values(), b.state_dict().values()))}))
""" % COMMIT
    done = run_python(code, cache)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == {"same": True, "n": len(zoo.load("deep-784-32", device="cpu").state_dict()),
                                       "name": "deep-784-32", "rev": True}
    # the CLI commands that take a name take it too
    evaluated = run_zoo(["eval", "hf://someone/deep", "--limit", "200", "--format", "json", "--no-baseline"], cache)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)[0]["mse"] == pytest.approx(
        zoo.evaluate(zoo.load("deep-784-32", device="cpu"), limit=200)["mse"], rel=1e-9)
    # not in the cache (offline), a revision it does not hold, a malformed name: one line each
    for name, status, words in (("hf://someone/other", 1, "could not get hf://someone/other from the Hugging Face Hub "
                                 "(HF_HUB_OFFLINE is set and it is not in the Hub cache)"),
                                ("hf://someone/deep@v9", 1, "could not get hf://someone/deep@v9"),
                                ("hf://no-repo-here", 2, "is not a Hub name")):
        refused = run_zoo(["eval", name, "--limit", "10"], cache)
        assert refused.returncode == status and words in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
    # a tampered weights file in the cache is refused, never loaded
    blob = next((cache / "models--someone--deep" / "blobs").glob("*-model.safetensors"))
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0xFF
    blob.write_bytes(bytes(data))
    tampered = run_python("import zoo; zoo.load('hf://someone/deep', device='cpu')", cache)
    assert tampered.returncode != 0 and "WeightsError" in tampered.stderr and "edited or damaged" in tampered.stderr, tampered.stderr[-1000:]


def test_a_plugin_model_from_the_hub_is_refused_without_its_registry(tmp_path):
    from zoo.weights import save_weights

    sys.path.insert(0, str(REPO_DIR / "tests"))
    try:
        import user_plugin  # noqa: F401  (registers its model in this process)
    finally:
        sys.path.pop(0)
    folder = tmp_path / "repo"
    folder.mkdir()
    entry = zoo.registry.parse_entry("tiny", {"description": "a plugin model", "family": "tiny-mlp",
                                              "kwargs": {"latent_dim": 8}, "dataset": "mnist", "recipe": {"epochs": 1}})
    save_weights(folder / "model.safetensors", entry.build((1, 28, 28)), entry)
    cache = tmp_path / "hub"
    lay_out_cache(cache, "someone/tiny", folder)
    done = run_python("import zoo; zoo.load('hf://someone/tiny', device='cpu')", cache)
    assert done.returncode != 0 and "tiny-mlp" in done.stderr and "registry" in done.stderr, done.stderr[-1000:]


def test_push_fails_in_one_line_offline_and_without_a_server(tmp_path):
    for env in ({"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        done = subprocess.run([str(Path(sys.executable).parent / "zoo"), "push", "deep-784-32", "--repo", "me/deep"],
                              capture_output=True, text=True, env={**clean, **env, "HF_HOME": str(tmp_path / "home")},
                              timeout=300)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("Error: could not push to me/deep on the Hugging Face Hub") and "nothing was pushed" in done.stderr
    bad = cli("push", "deep-784-32", "--repo", "no owner")
    assert bad.exit_code == 2 and "is not a Hub repository" in bad.output
