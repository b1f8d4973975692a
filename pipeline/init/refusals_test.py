"""`tfx-prod init` refuses what it cannot make a project of: exit 2, a
message that says what to do, and nothing written (or, with --force, the old
project kept in a backup)."""
import pathlib

import pytest

from pipeline.init.testing import NA, run_cli


# --- Refusals: exit 2, say what to do, write nothing -------------------------------------
@pytest.fixture
def small_csv(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text("x,colour,y\n" + "".join(
        f"{i % 7},{'ab'[i % 2]},{'yes' if i % 3 else 'no'}\n"
        for i in range(60)))
    return path


REFUSALS = {
    "missing_file": (lambda d: (d / "nope.csv", "y"), "no such file"),
    "unknown_label": (lambda d: (d / "small.csv", "Y"), "Did you mean 'y'?"),
    "one_label_value": (lambda d: (_write(d, "x,y\n1,a\n2,a\n3,a\n"), "y"),
                        "one value ('a')"),
    "blank_label": (lambda d: (_write(d, "x,y\n1,a\n2,NA\n3,b\n"), "y"),
                    "blank in 1 of 3 rows"),
    "not_csv_text": (lambda d: (_write_bytes(d, b"\x1f\x8b\x08\x00\x00\xff"
                                                b"x,y\n\x00\x01"), "y"),
                     "not CSV text"),
    "ragged_row": (lambda d: (_write(d, "x,y\n1,a\n2,b,3\n"), "y"),
                   "line 3: 3 cells"),
    "unnamed_column": (lambda d: (_write(d, ",x,y\n0,1,a\n1,2,b\n"), "y"),
                       "index=False"),
}


def _write(folder: pathlib.Path, text: str) -> pathlib.Path:
    (folder / "bad.csv").write_text(text)
    return folder / "bad.csv"


def _write_bytes(folder: pathlib.Path, data: bytes) -> pathlib.Path:
    (folder / "bad.csv").write_bytes(data)
    return folder / "bad.csv"


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_input_exits_2_with_the_fix_and_writes_nothing(case, tmp_path,
                                                           small_csv):
    make, expected = REFUSALS[case]
    csv, label = make(tmp_path)
    target = tmp_path / "project"
    code, out, err = run_cli(target, "--csv", csv, "--label", label,
                             "--null-values", NA)
    assert code == 2
    assert expected in err
    assert not target.exists()


def test_ambiguous_binary_label_lists_its_values_and_writes_nothing(tmp_path,
                                                                    small_csv):
    small_csv.write_text(small_csv.read_text().replace("yes", "spam")
                         .replace(",no\n", ",ham\n"))
    code, _, err = run_cli(tmp_path / "p", "--csv", small_csv, "--label", "y")
    assert code == 2
    assert "--positive ham or --positive spam" in err
    assert not (tmp_path / "p").exists()


def test_existing_project_is_refused_untouched_then_replaced_with_force(
        tmp_path, small_csv):
    target = tmp_path / "project"
    assert run_cli(target, "--csv", small_csv, "--label", "y")[0] == 0
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns)
              for p in target.rglob("*") if p.is_file()}
    small_csv.write_text(small_csv.read_text() + "3,a,no\n")

    code, _, err = run_cli(target, "--csv", small_csv, "--label", "y")
    assert code == 2 and "--force" in err
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns)
            for p in target.rglob("*") if p.is_file()} == before

    code, out, _ = run_cli(target, "--csv", small_csv, "--label", "y",
                           "--force")
    assert code == 0
    assert (target / "span-1" / "data.csv").read_bytes() == \
        small_csv.read_bytes()
    backup, = target.glob("init-backup-*")
    assert str(backup) in out
    assert {p.relative_to(backup): p.read_bytes()
            for p in backup.rglob("*") if p.is_file()} == {
        p.relative_to(target): data for p, (data, _) in before.items()}
