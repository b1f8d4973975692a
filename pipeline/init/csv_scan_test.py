"""Reading the user's CSV: what CsvExampleGen would choke on is refused with
the fix; counts, null tokens and the blanked copy are exact."""
import csv

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pipeline.init import InitError, csv_scan


def _scan(tmp_path, text, tokens=("NA",)):
    path = tmp_path / "data.csv"
    path.write_text(text)
    names = csv_scan.read_header(str(path))
    blanked = tmp_path / "blanked.csv"
    return csv_scan.scan(str(path), names, tokens, str(blanked)), blanked


def test_skewness_is_exact_and_stable_for_large_values():
    rng = np.random.default_rng(0)
    values = rng.lognormal(0, 1, 2000)
    for offset in (0.0, 1.4e9):   # e.g. timestamps
        moments = csv_scan.Moments()
        for v in values + offset:
            moments.add(float(v))
        assert moments.skewness == pytest.approx(
            scipy_stats.skew(values), rel=1e-4)
        assert moments.mean == pytest.approx(values.mean() + offset)


def test_null_tokens_count_as_blank_and_only_whole_cells_match(tmp_path):
    table, blanked = _scan(tmp_path, 'a,b\n1,NA\nNA,"NA, or not"\n3,\n'
                                     '4,"x\nNA"\n')
    a, b = table.columns
    assert (table.rows, a.present, a.blank, dict(a.null_tokens)) == (
        4, 3, 1, {"NA": 1})
    assert (b.present, b.blank, dict(b.null_tokens)) == (2, 2, {"NA": 1})
    assert sorted(b.counts) == ["NA, or not", "x\nNA"]
    with open(blanked, newline="") as f:
        assert list(csv.reader(f)) == [["a", "b"], ["1", ""],
                                       ["", "NA, or not"], ["3", ""],
                                       ["4", "x\nNA"]]


def test_values_are_counted_as_the_pipeline_reads_them(tmp_path):
    table, _ = _scan(tmp_path, "n,y\n07,a\n7,b\n8,a\n")
    from pipeline.init import profile
    from pipeline.init.stats import INT, STRING, ColumnStats
    columns = profile.columns(table, {
        "n": ColumnStats("n", INT, 3, 7, 8, 7.33, 0.47),
        "y": ColumnStats("y", STRING, 3)})
    assert dict(columns[0].values) == {"7": 2, "8": 1}


@pytest.mark.parametrize("text,message", [
    ("a,b\n1,2\n3,4,5\n", "line 3: 3 cells where the header has 2"),
    ('a,b\n1,"open\n2,3\n', 'line 2: a quote opened there never closes'),
    ("a,b\n", "no rows"),
])
def test_rows_csv_example_gen_cannot_read_are_refused(tmp_path, text,
                                                      message):
    with pytest.raises(InitError, match=message):
        _scan(tmp_path, text)


@pytest.mark.parametrize("data,message", [
    (b"\xef\xbb\xbfa,b\n1,2\n", "byte-order mark"),
    (b"a,a\n1,2\n", "duplicate column names \\['a'\\]"),
    (b'"a",b\n1,2\n', "quotes"),
    (b"a;b;c\n1;2;3\n", "semicolon-separated"),
    (b"a,\xff\n1,2\n", "not UTF-8"),
    (b"PK\x03\x04\x00\x00", "NUL bytes"),
    (b"", "is empty"),
    (b"sepal length (cm),y\n1,2\n", "'sepal length \\(cm\\)' -> 'sepal_length_cm'"),
])
def test_headers_csv_example_gen_cannot_read_are_refused(tmp_path, data,
                                                         message):
    path = tmp_path / "data.csv"
    path.write_bytes(data)
    with pytest.raises(InitError, match=message):
        csv_scan.read_header(str(path))


def test_blank_lines_are_skipped_as_tfx_does(tmp_path):
    table, _ = _scan(tmp_path, "a,b\n1,2\n\n3,4\n")
    assert table.rows == 2
