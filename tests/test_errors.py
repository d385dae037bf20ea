"""audiogen.errors: what a check raises, and how the command line reports it (one place)."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from audiogen.cli.exit import ErrorReportingGroup
from audiogen.errors import InputError, RunError


def test_input_errors_are_value_errors_with_exit_status_2():
    assert issubclass(InputError, ValueError) and InputError.exit_code == 2
    assert RunError.exit_code == 1 and not issubclass(RunError, ValueError)


@pytest.mark.parametrize(
    ("error", "code"), [(InputError("--x must be 1, got 2"), 2), (RunError("disk full"), 1)]
)
def test_the_group_prints_one_line_and_exits(error, code):
    app = typer.Typer(cls=ErrorReportingGroup)

    @app.command()
    def fail() -> None:
        raise error

    @app.command()
    def other() -> None:
        pass

    result = CliRunner().invoke(app, ["fail"])
    assert result.exit_code == code
    assert result.output.strip() == f"error: {error}"
    assert "Traceback" not in result.output


def test_other_exceptions_keep_their_traceback():
    app = typer.Typer(cls=ErrorReportingGroup)

    @app.command()
    def fail() -> None:
        raise KeyError("a bug")

    @app.command()
    def other() -> None:
        pass

    result = CliRunner().invoke(app, ["fail"])
    assert isinstance(result.exception, KeyError)
