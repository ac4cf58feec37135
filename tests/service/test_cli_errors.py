"""The console entry point turns file-system errors into one clean line and exit code 1 (no traceback)."""

from __future__ import annotations

from pathlib import Path

from cxrkit.service.cli import main


def test_output_under_a_file_is_a_clean_error(tmp_path: Path, fixtures_dir: Path, capsys) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    src = fixtures_dir / "io" / "00010805_049.png"
    assert main(["convert", str(src), str(blocker / "out.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cxrkit convert: error: ") and "Traceback" not in err
    assert "not_a_folder" in err
