"""zoo sweep: the search space, a sweep in-process (pruning, --best, --export-entry, trials that load and compare),
one-line errors, and worker processes sharing a study through SQLite and a real PostgreSQL server, one of them
SIGKILLed mid-trial."""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import cli, one_line
from killing import saved_position
from postgres import postgres_server

import zoo
from zoo.cli import main
from zoo.errors import UsageError
from zoo.sweeps.space import param, parse_param, parse_space
from zoo.sweeps.worker import check_trials
from zoo.threads import Workers, cores

optuna = pytest.importorskip("optuna")
REPO = Path(__file__).resolve().parents[1]
FAST = dict(epochs=2, limit_batches=4, device="cpu", threads=1)


# ---------------------------------------------------------------------------------------------- the space
def test_specs_parse_into_optuna_distributions():
    lr = parse_param("lr=log:1e-4:1e-2")
    assert lr.distribution() == optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    assert param("batch_size", "int:32:256").distribution() == optuna.distributions.IntDistribution(32, 256)
    assert param("x", "float:0:1").distribution() == optuna.distributions.FloatDistribution(0.0, 1.0)
    mixed = param("optimizer", "choice:adam,sgd")
    assert mixed.choices == ("adam", "sgd") and param("batch_size", "choice:64,128").choices == (64, 128)
    assert param("batch_size", "int:2:4").grid() == [2, 3, 4]


@pytest.mark.parametrize("text, words", [
    ("lr", "takes KEY=SPEC"),
    ("lr=exp:1:2", "starts with one of log:, float:, int:, choice:"),
    ("lr=log:0:1", "must be above 0"),
    ("lr=float:2:1", "LOW (2) is above HIGH (1)"),
    ("lr=float:1:nan", "'nan' is not a finite number"),
    ("batch_size=int:1.5:3", "'1.5' is not a whole number"),
    ("lr=log:1e-4", "takes LOW:HIGH"),
    ("batch_size=choice:", "values separated by commas"),
    ("batch_size=choice:64,64", "appears twice"),
])
def test_bad_specs_are_refused_naming_the_problem(text, words):
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_param(text)


def test_a_grid_is_counted_before_it_is_built_and_bounded():
    from zoo.sweeps.space import MAX_GRID, grid_size

    assert grid_size({"a": param("a", "int:1:3"), "b": param("b", "choice:x,y")}) == 6
    for spec in ("int:1:100000000", "int:0:9223372036854775807"):
        huge = {"batch_size": param("batch_size", spec)}
        started = time.perf_counter()
        with pytest.raises(UsageError, match=f"more than {MAX_GRID:,} points"):
            check_trials(1, huge, "grid")
        with pytest.raises(UsageError, match="points, above the"):
            huge["batch_size"].grid()
        assert time.perf_counter() - started < 1.0
    with pytest.raises(UsageError, match="more than 100,000 points"):
        grid_size({"a": param("a", "int:1:1000"), "b": param("b", "int:1:1000")})
    with pytest.raises(UsageError, match="is not a whole number in"):
        param("batch_size", "int:0:99999999999999999999999")


def test_echoed_specs_are_cut_and_choices_take_a_json_list_and_are_bounded():
    with pytest.raises(UsageError) as caught:
        parse_param("k" * 100_000 + "=exp:1:2")
    assert len(str(caught.value)) < 300 and "kkk..." in str(caught.value)
    with pytest.raises(UsageError) as caught:
        parse_param("lr=float:1:" + "9" * 100_000)
    assert len(str(caught.value)) < 300
    assert param("x", 'choice:[{"a": 1, "b": 2}, {"a": 3}]').choices == ({"a": 1, "b": 2}, {"a": 3})
    assert param("batch_size", "choice:[64, 128]").choices == (64, 128)
    with pytest.raises(UsageError, match="takes a non-empty JSON list"):
        param("x", "choice:[1, 2")
    started = time.perf_counter()
    with pytest.raises(UsageError, match="more than 1,000 choices"):
        param("batch_size", "choice:" + ",".join(str(i) for i in range(1, 20_001)))
    with pytest.raises(UsageError, match="more than 1,000 choices"):
        param("batch_size", "choice:" + json.dumps(list(range(1, 20_001))))
    assert time.perf_counter() - started < 1.0


def test_the_recipe_schema_checks_keys_and_ranges():
    recipe = zoo.get_entry("fashion-64").recipe
    space = parse_space({"lr": "log:1e-4:1e-2", "early_stopping.patience": "int:2:9"}, recipe, "fashion-64")
    assert list(space) == ["lr", "early_stopping.patience"]
    with pytest.raises(UsageError, match="lrr: unknown key. Did you mean 'lr'"):
        parse_space({"lrr": "log:1e-4:1e-2"}, recipe, "fashion-64")
    with pytest.raises(UsageError, match="batch_size: must be >= 1, got 0"):
        parse_space({"batch_size": "int:0:64"}, recipe, "fashion-64")
    with pytest.raises(UsageError, match='optimizer: expected one of "sgd", "adam", "adamw", got "adx"'):
        parse_space({"optimizer": "choice:adam,adx"}, recipe, "fashion-64")


def test_workers_on_one_machine_split_its_cores(tmp_path):
    folder = tmp_path / "workers"
    with Workers(folder) as a:
        assert a.live() == 1 and a.share() == cores()
        with Workers(folder) as b:
            assert a.live() == b.live() == 2 and b.share() == max(1, cores() // 2)
        (folder / "gone.123.lock").write_text("")  # a killed worker's file: no one holds its lock
        assert a.live() == 1 and not (folder / "gone.123.lock").exists()
    assert not list(folder.iterdir())


# ---------------------------------------------------------------------------------------------- in-process
@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A 3-trial random sweep of deep-784-32's lr and batch size (2 epochs of 4 batches a trial)."""
    root = tmp_path_factory.mktemp("sweep")
    lines = []
    study = zoo.sweep("deep-784-32", params={"lr": "log:1e-4:1e-2", "batch_size": "choice:32,64"}, trials=3,
                      study="small", out=root / "small", sampler="random", seed=0, pruner="none", log=lines.append,
                      **FAST)
    return root, study, lines


def test_a_sweep_ends_with_its_complete_trials_each_a_run_folder(swept):
    root, study, lines = swept
    assert isinstance(study, optuna.Study) and study.study_name == "small"
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 3 == len(study.trials) and len(lines) == 3
    assert all(line.startswith(f"trial {i} complete: ") for i, line in enumerate(lines))
    assert (root / "small" / "study.db").is_file()
    for t in complete:
        run = Path(t.user_attrs["run_dir"])
        assert run == (root / "small" / f"trial-{t.number:04d}").resolve()
        metrics = json.loads((run / "metrics.json").read_text())
        assert t.value == metrics["best_val_loss"] and metrics["epochs_run"] == 2
        config = json.loads((run / "config.json").read_text())
        assert config["entry"]["recipe"]["lr"] == t.params["lr"] and config["entry"]["recipe"]["batch_size"] == t.params["batch_size"]
        assert zoo.load(run).latent_dim == 32 and t.user_attrs["threads"] == 1
    assert len({t.params["lr"] for t in complete}) == 3


def test_trial_runs_appear_in_zoo_compare(swept):
    root, study, _ = swept
    runs = [t.user_attrs["run_dir"] for t in study.trials]
    result = CliRunner().invoke(main, ["compare", *runs, "--limit", "50", "--format", "json", "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sorted(r["name"] for r in rows) == sorted(runs)
    assert all(r["latent_dim"] == 32 and r["mse"] > 0 for r in rows)


def test_best_and_export_entry_make_the_winner_a_zoo_name(swept, tmp_path, monkeypatch):
    root, study, _ = swept
    monkeypatch.setenv("ZOO_REGISTRY", "")  # zoo --registry below adds to it; restored after the test
    best = min((t for t in study.trials), key=lambda t: t.value)
    result = cli("sweep", "deep-784-32", "--study", "small", "--out", root / "small", "--best")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"best trial {best.number}: {best.value:.6f} (lr=")
    assert f"run folder: {best.user_attrs['run_dir']}" in result.output
    registry = tmp_path / "mine.json"
    other = zoo.get_entry("linear-128").to_dict()
    registry.write_text(json.dumps({"version": 1, "models": {"mine-1": other}}))  # an existing file is added to
    result = cli("sweep", "deep-784-32", "--study", "small", "--out", root / "small", "--best", "--export-entry", registry)
    assert result.exit_code == 0, result.output
    assert f"wrote entry 'deep-784-32-small' to {registry}" in result.output
    models = json.loads(registry.read_text())["models"]
    assert models["mine-1"] == other
    entry = models["deep-784-32-small"]
    assert entry["recipe"]["lr"] == best.params["lr"] and entry["recipe"]["batch_size"] == best.params["batch_size"]
    assert entry["recipe"]["epochs"] == zoo.get_entry("deep-784-32").recipe.epochs  # the full recipe, not the sweep's 2
    out = tmp_path / "winner"
    result = cli("--registry", registry, "train", "deep-784-32-small", "--epochs", 1, "--limit-batches", 2, "--out", out,
                 "--quiet", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["entry"]["recipe"]["lr"] == best.params["lr"]
    damaged = tmp_path / "damaged.json"
    damaged.write_text("{not json")
    text = one_line(cli("sweep", "deep-784-32", "--study", "small", "--out", root / "small", "--export-entry", damaged), 2)
    assert "is not valid JSON" in text and damaged.read_text() == "{not json"


def test_a_run_folder_holding_a_newline_prints_no_forged_line(tmp_path):
    folder = tmp_path / "forged"
    folder.mkdir()
    made = optuna.create_study(study_name="forged", storage=f"sqlite:///{folder / 'study.db'}")
    made.set_user_attr("zoo.sweep", {"name": "deep-784-32"})
    forged = "/tmp/x\nbest trial 99: 0.000000 (lr=1)"
    made.add_trial(optuna.trial.create_trial(params={"lr": 0.001}, value=0.5, user_attrs={"run_dir": forged},
                                             distributions={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-2)}))
    result = cli("sweep", "deep-784-32", "--study", "forged", "--out", folder, "--best")
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 2 and not any(line.startswith("best trial 99") for line in result.output.splitlines())
    assert "run folder: '/tmp/x\\nbest trial 99" in result.output
    assert all("\n" not in line for line in zoo.sweeps.table(made))


def test_a_study_in_memory_is_refused_and_reading_creates_nothing(tmp_path):
    for url in ("sqlite:///:memory:", "sqlite://"):
        text = one_line(cli("sweep", "deep-784-32", "--study", "m", "--storage", url, "--trials", 1, "--param",
                            "lr=float:1e-4:1e-2", "--out", tmp_path / "m"), 2)
        assert "keeps the study in memory" in text
    db = tmp_path / "none.db"
    text = one_line(cli("sweep", "deep-784-32", "--study", "s", "--storage", f"sqlite:///{db}", "--best"), 2)
    assert "there is no study database" in text and "nothing was created" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no database, no lock beside it
    folder = tmp_path / "file.db"
    folder.mkdir()  # a storage that cannot open: the lock file made for it goes too
    result = cli("sweep", "deep-784-32", "--study", "s", "--storage", f"sqlite:///{folder}", "--trials", 1, "--param",
                 "lr=float:1e-4:1e-2", "--out", tmp_path / "run")
    assert result.exit_code != 0 and not (tmp_path / "file.db.lock").exists()


def test_export_entry_never_replaces_a_users_entry_without_force(swept, tmp_path, monkeypatch):
    root, _, _ = swept
    monkeypatch.setenv("ZOO_REGISTRY", "")
    registry = tmp_path / "mine.json"
    mine = {**zoo.get_entry("linear-128").to_dict(), "description": "my own entry, by hand"}
    registry.write_text(json.dumps({"version": 1, "models": {"deep-784-32-small": mine}}))
    before = registry.read_bytes()
    args = ["sweep", "deep-784-32", "--study", "small", "--out", root / "small", "--best", "--export-entry", registry]
    text = one_line(cli(*args), 2)
    assert "already has an entry 'deep-784-32-small'" in text and "--force" in text
    assert registry.read_bytes() == before
    assert cli(*args, "--force").exit_code == 0
    assert json.loads(registry.read_text())["models"]["deep-784-32-small"]["description"] != mine["description"]
    assert "--force goes with --export-entry" in one_line(cli("sweep", "deep-784-32", "--study", "x", "--trials", 1,
                                                              "--param", "lr=float:1e-4:1e-2", "--force"), 2)


def test_export_entry_onto_a_fifo_is_refused_at_once(swept, tmp_path):
    root, _, _ = swept
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    text = one_line(cli("sweep", "deep-784-32", "--study", "small", "--out", root / "small", "--best", "--export-entry",
                        fifo), 2)
    assert "is not a regular file" in text


def test_export_entry_imports_nothing_its_file_names(swept, tmp_path, monkeypatch):
    root, _, _ = swept
    monkeypatch.setenv("ZOO_REGISTRY", "")
    (tmp_path / "evil_plugin.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').write('code ran')\n")
    registry = tmp_path / "mine.json"
    registry.write_text(json.dumps({"version": 1, "plugins": ["evil_plugin"], "models": {}}))
    result = cli("sweep", "deep-784-32", "--study", "small", "--out", root / "small", "--best", "--export-entry", registry)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "ran").exists()
    document = json.loads(registry.read_text())
    assert document["plugins"] == ["evil_plugin"] and "deep-784-32-small" in document["models"]


def test_the_median_pruner_stops_trials_worse_than_the_median(tmp_path):
    # lr 1e-7 barely moves the loss; once two trials are complete, such a trial is stopped after epoch 2
    lines = []
    study = zoo.sweep("deep-784-32", params={"lr": "choice:0.003,1e-7"}, trials=3, study="prune", out=tmp_path,
                      sampler="random", seed=6, pruner="median", epochs=4, limit_batches=6, device="cpu", threads=1,
                      log=lines.append)
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 3 and pruned, lines
    for t in pruned:
        assert t.params["lr"] == 1e-7 and max(t.intermediate_values) == 2
        metrics = json.loads((Path(t.user_attrs["run_dir"]) / "metrics.json").read_text())
        assert metrics["epochs_run"] == 2 and metrics["stop_reason"].startswith("stopped by the on_epoch callback")
    assert any(" pruned after epoch 2: " in line for line in lines)


def test_the_sweep_lines_of_the_docs_run_as_written_on_fewer_batches(tmp_path, monkeypatch, doc_block):
    """docs/sweeps.md's sweep block, each line as written, with each trial (and the exported entry's run) cut to one epoch
    of two batches and the search to two trials."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_REGISTRY", "")
    block = doc_block("sweep").replace("\\\n", " ")
    lines = [shlex.split(line.split("#")[0]) for line in block.splitlines() if line.strip()]
    assert [words[:2] for words in lines] == [["zoo", "sweep"]] * 3 + [["zoo", "--registry"]]
    shorter = {"16": "2", "5": "1"}
    for words in lines:
        words = [shorter.get(w, w) if i and words[i - 1] in ("--trials", "--epochs") else w for i, w in enumerate(words)]
        words += ["--limit-batches", "2"] if "--best" not in words else []
        words += ["--epochs", "1", "--device", "cpu", "--quiet"] if "train" in words else []
        result = CliRunner().invoke(main, words[1:])
        assert result.exit_code == 0, (words, result.output)
    study = optuna.load_study(study_name="lr-bs", storage=f"sqlite:///{tmp_path / 'runs/sweeps/lr-bs/study.db'}")
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 2
    assert "fashion-64-lr-bs" in json.loads((tmp_path / "mine.json").read_text())["models"]
    assert (tmp_path / "runs" / "fashion-64-lr-bs" / "model.safetensors").is_file()


# ---------------------------------------------------------------------------------------------- errors
def test_bad_sweeps_get_one_line(tmp_path, swept):
    root, _, _ = swept
    base = ["sweep", "deep-784-32", "--study", "x", "--out", tmp_path / "x", "--trials", 2]
    assert "lrr: unknown key. Did you mean 'lr'" in one_line(cli(*base, "--param", "lrr=log:1e-4:1e-2"), 2)
    assert "LOW (2) is above HIGH (1)" in one_line(cli(*base, "--param", "lr=float:2:1"), 2)
    assert "--trials must be a whole number >= 1, got 0" in one_line(cli(*base[:-1], 0, "--param", "lr=log:1e-4:1e-2"), 2)
    assert "needs --trials N and at least one --param" in one_line(cli(*base), 2)
    assert "more than the grid's 2 points" in one_line(cli(*base[:-1], 3, "--param", "batch_size=choice:32,64",
                                                           "--sampler", "grid"), 2)
    assert "needs choice: or int: specs" in one_line(cli(*base, "--param", "lr=log:1e-4:1e-2", "--sampler", "grid"), 2)
    assert "'deep-784-32'" in one_line(cli("sweep", "deep-784-23", "--study", "x", "--trials", 1,
                                                        "--param", "lr=log:1e-4:1e-2"), 2)
    # the same study with other parameters
    clash = cli("sweep", "deep-784-32", "--study", "small", "--out", root / "small", "--trials", 3, "--limit-batches", 4,
                "--epochs", 2, "--param", "lr=log:1e-3:1e-1", "--sampler", "random")
    assert "sweeps deep-784-32 over lr=log:1e-4:1e-2 batch_size=choice:32,64" in one_line(clash, 2)
    assert "give the same, or another --study" in clash.output
    assert "holds no study" in one_line(cli("sweep", "deep-784-32", "--study", "none", "--out", tmp_path / "n", "--best"), 2)
    assert "sweeps deep-784-32, not deep-64" in one_line(cli("sweep", "deep-64", "--study", "small", "--out", root / "small",
                                                             "--best"), 2)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").glob("trial-*"))


def test_an_unreachable_storage_is_one_line(tmp_path):
    started = time.perf_counter()
    result = cli("sweep", "deep-784-32", "--study", "x", "--out", tmp_path, "--trials", 1, "--param", "lr=log:1e-4:1e-2",
                 "--storage", "postgresql://zoo:secret@127.0.0.1:9/zoo")
    text = one_line(result, 1)
    assert "cannot open the study's storage postgresql://zoo:***@127.0.0.1:9/zoo" in text and "secret" not in text
    assert time.perf_counter() - started < 60
    assert "--storage must be a database URL" in one_line(cli("sweep", "deep-784-32", "--study", "x", "--trials", 1,
                                                               "--param", "lr=log:1e-4:1e-2", "--storage", "study.db"), 2)


# ---------------------------------------------------------------------------------------------- workers
def worker(cwd: Path, storage: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "zoo", "sweep", "deep-784-32", "--study", "shared", "--out", str(cwd / "sweep"),
           "--trials", "3", "--param", "lr=log:1e-4:1e-2", "--epochs", "6", "--limit-batches", "40", "--sampler",
           "random", "--pruner", "none", "--threads", "1", "--heartbeat", "1", "--device", "cpu", *extra]
    if storage:
        cmd += ["--storage", storage]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_one_mid_trial(cwd: Path, storage_url: str, storage_arg: str):
    """Two workers; SIGKILL the one whose trial has a saved epoch (not its last); a third joins. Returns the study,
    the killed trial's number and every worker's output."""
    first = [worker(cwd, storage_arg), worker(cwd, storage_arg)]
    killed, deadline = None, time.monotonic() + 240
    while killed is None and time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            study = optuna.load_study(study_name="shared", storage=storage_url)
        except Exception:  # noqa: BLE001 - not created yet
            continue
        for t in study.get_trials(deepcopy=False):
            run_dir = t.user_attrs.get("run_dir")
            position = saved_position(Path(run_dir)) if run_dir and t.state.name == "RUNNING" else None
            if position and 1 <= position[0] <= 4:
                os.kill(t.user_attrs["pid"], signal.SIGKILL)
                killed = t.number
                break
    assert killed is not None, "no trial reached a saved epoch"
    third = worker(cwd, storage_arg)
    outputs = []
    for proc in [*first, third]:
        out, _ = proc.communicate(timeout=300)
        outputs.append((proc.returncode, out))
    return optuna.load_study(study_name="shared", storage=storage_url), killed, outputs


def check_after_kill(study, killed, outputs, cwd: Path):
    codes = sorted(code for code, _ in outputs)
    assert codes == [-signal.SIGKILL, 0, 0], outputs
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 3, [(t.number, t.state.name) for t in trials]
    assert [t.number for t in trials if t.state.name == "FAIL"] == [killed]
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert retry.state.name == "COMPLETE" and retry.user_attrs["resumed"] is True
    assert retry.params == next(t for t in trials if t.number == killed).params
    runs = [t.user_attrs["run_dir"] for t in complete]
    assert len(set(runs)) == 3 and retry.user_attrs["run_dir"].endswith(f"trial-{killed:04d}")
    assert sorted(p.name for p in (cwd / "sweep").glob("trial-*")) == sorted(Path(r).name for r in runs)
    for run in runs:  # every run trained its 6 epochs, the resumed one too
        assert json.loads((Path(run) / "metrics.json").read_text())["epochs_run"] == 6
    assert any(f"retrying trial {killed}" in out for _, out in outputs)


@pytest.mark.slow
def test_workers_on_one_sqlite_study_survive_a_sigkill(tmp_path):
    url = f"sqlite:///{tmp_path / 'sweep' / 'study.db'}"
    study, killed, outputs = kill_one_mid_trial(tmp_path, url, "")
    check_after_kill(study, killed, outputs, tmp_path)


@pytest.mark.slow
def test_workers_on_a_postgresql_study_survive_a_sigkill(tmp_path):
    with postgres_server() as url:
        study, killed, outputs = kill_one_mid_trial(tmp_path, url, url)
        check_after_kill(study, killed, outputs, tmp_path)


def test_workers_started_together_on_a_new_sqlite_file_all_open_it(tmp_path):
    """Three processes create the same new study file at once: each opens it (one makes the tables)."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    code = ("import sys; from zoo.sweeps.study import open_storage, open_study; "
            f"s = open_storage({url!r}, heartbeat=1); open_study('s', s, {url!r}, wanted={{'name': 'x', 'params': {{}}, "
            "'epochs': None, 'limit_batches': None, 'sampler': 'tpe'}); print('ok')")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0] and all(o.strip().endswith("ok") for o in outs), outs


@pytest.mark.slow
def test_a_ctrl_c_ends_the_worker_in_one_line_and_its_trial_resumes_in_the_next(tmp_path):
    url = f"sqlite:///{tmp_path / 'sweep' / 'study.db'}"
    proc = worker(tmp_path, "")
    deadline, run_dir = time.monotonic() + 240, None
    while time.monotonic() < deadline and run_dir is None:
        time.sleep(0.2)
        position = saved_position(tmp_path / "sweep" / "trial-0000")
        if position and 1 <= position[0] <= 4:
            proc.send_signal(signal.SIGINT)
            run_dir = tmp_path / "sweep" / "trial-0000"
    out, _ = proc.communicate(timeout=120)
    assert run_dir is not None and proc.returncode == 130, out
    assert out.strip().splitlines()[-1].startswith("Error: interrupted") and "Traceback" not in out
    study = optuna.load_study(study_name="shared", storage=url)
    assert [t.state.name for t in study.trials] == ["FAIL", "WAITING"]
    assert study.trials[1].system_attrs["failed_trial"] == 0
    again = worker(tmp_path, "")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    study = optuna.load_study(study_name="shared", storage=url)
    retry = study.trials[1]
    assert retry.state.name == "COMPLETE" and retry.user_attrs["resumed"] is True
    assert retry.user_attrs["run_dir"] == str(run_dir.resolve())
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 3
