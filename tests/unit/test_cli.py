"""The CLI through click's CliRunner, plus one real subprocess for the one-line error promise."""
from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

import zoo
from zoo.cli import main
from zoo.data import image_shape


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_help_lists_every_command_as_typed_with_its_short_help():
    result = run("--help")
    assert result.exit_code == 0
    listed = result.output.split("Commands:")[1]
    assert len(main.commands) >= 11
    for name, command in main.commands.items():  # generated from the commands: none left out (push was, once)
        assert f"zoo {name} " in listed and command.short_help.split()[0] in listed
    assert "zoo export NAME|PATH" in listed and "Hugging Face" in listed.split("zoo export")[1].split("zoo push")[0]


def test_list_shows_every_entry_with_counts_from_the_code():
    result = run("list")
    assert result.exit_code == 0
    lines = result.output.strip().split("\n")
    assert lines[0].split() == ["name", "dataset", "family", "network", "latent", "params", "weights"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(zoo.list_models())
    for name, row in rows.items():
        entry = zoo.get_entry(name)
        assert row[1] == entry.dataset and row[2] == entry.family and row[3] == entry.network_type
        assert int(row[4]) == entry.latent_dim
        assert int(row[5].replace(",", "")) == entry.build(image_shape(entry.dataset)).num_parameters()


def test_list_json_and_pattern():
    result = run("list", "deep-*", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == ["deep-64", "deep-784-2", "deep-784-32"]
    assert {"name", "dataset", "family", "network", "latent_dim", "params", "weights"} <= set(rows[0])


def test_info_prints_the_entry_in_full():
    result = run("info", "fashion-64")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["name"] == "fashion-64"
    assert data["recipe"]["early_stopping"] == {"patience": 5, "min_delta": 1e-05}
    assert data["params"] == 435536 and data["weights"].endswith("fashion-64/model.safetensors")


def test_unknown_name_exits_2_with_one_line_and_a_suggestion():
    result = run("info", "linear-12")
    assert result.exit_code == 2
    assert result.output == "Error: Unknown model 'linear-12'. Did you mean 'linear-128'?\n"


def test_click_usage_errors_are_one_line_too():
    for args in (["lst"], ["list", "--format", "yaml"], ["info"]):
        result = run(*args)
        assert result.exit_code == 2, args
        assert result.output.count("\n") == 1 and result.output.startswith("Error: "), result.output


def test_real_process_prints_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "zoo", "info", "../../etc/passwd"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: Unknown model '../../etc/passwd'")


def test_messages_name_options_as_the_interface_that_shows_them_with_no_global_switch():
    import logging

    from zoo.console import _LineFormatter
    from zoo.errors import RegistryError, UsageError, option, option_value, setting

    inner = UsageError(f"pass {option('--force', 'force=True')} or {option_value('--lr', 0.1)}; drop {setting('lr')}")
    outer = RegistryError(f"registry.json: {inner}")  # a message built from another keeps both wordings
    assert str(outer) == "registry.json: pass force=True or lr=0.1; drop settings['lr']"
    assert outer.cli_message() == "registry.json: pass --force or --lr 0.1; drop --set lr"
    assert "\x02" not in repr(str(outer)) and "\x02" not in outer.cli_message()
    record = logging.getLogger("zoo").makeRecord("zoo", logging.WARNING, __file__, 1, f"use {option('--out')}", (), None)
    for f in logging.getLogger("zoo").filters:
        f.filter(record)
    assert record.getMessage() == "use out" and _LineFormatter().format(record) == "warning: use --out"
    forged = option("--x\x03\x02y")  # a user's text cannot close or open a wording
    assert str(UsageError(forged)).count("?") == 2
