"""Test support for `tfx-prod init`'s tests."""
import contextlib
import io

from tfx_prod import cli

NA = "NA"  # the null token the test tables use


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["init", *map(str, argv)])
    return code, out.getvalue(), err.getvalue()
