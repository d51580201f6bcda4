"""The ``ldarnet`` dispatcher: every subcommand in ldarnet.commands, and ``--help`` without torch."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from ldarnet import cli


def test_help_lists_every_command_without_importing_torch_or_pandas():
    code = ("import sys; from ldarnet import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'pandas', 'numpy', 'pyfaidx') if m in sys.modules)\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    for name, _, _ in cli.COMMANDS:
        assert name in out


@pytest.mark.parametrize("name,module", [(name, module) for name, module, _ in cli.COMMANDS])
def test_each_command_module_registers_its_own_name(name, module):
    assert module.startswith("ldarnet.commands.")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    importlib.import_module(module).register(sub)
    assert list(sub.choices) == [name]
    assert callable(sub.choices[name].get_default("func"))


def test_a_chosen_command_gets_its_full_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["make-task", "--help"])
    assert exit_info.value.code == 0
    assert "--annotation" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["no-such-command"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_demo_never_falls_back_to_random_weights_silently(tmp_path, capsys):
    assert cli.main(["demo", "--checkpoint", str(tmp_path / "missing")]) == 2
    assert "missing does not exist" in capsys.readouterr().err
    assert cli.main(["demo", "--checkpoint", "untrained", "--sequence", "ACGTTGCA" * 8]) == 0
    assert "UNTRAINED ldarnet-proxy (seed 0)" in capsys.readouterr().out
