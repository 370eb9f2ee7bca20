import pytest

from tests.functional.rally_cli import RallyCLI


@pytest.fixture(scope="module")
def rally(tmp_path_factory):
    """A real Rally with an empty env, isolated from the user's own."""
    cli = RallyCLI(tmp_path_factory.mktemp("rally-home"))
    cli.setup()
    return cli
