import subprocess
import sys

import pytest

from cxrkit.service.cli import build_parser, main


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "evaluate" in sub.choices
    for name, p in sub.choices.items():
        assert p.format_help().strip(), name


def test_no_command_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "cxrkit.service.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "cxrkit" in out.stdout
