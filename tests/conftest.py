"""tests/image boots the built firmware under qemu (minutes): collected only when asked for by
path (`make image-test`), never in the default run."""

import os
from pathlib import Path

import pytest

IMAGE_TESTS = Path(__file__).resolve().parent / "image"


def pytest_ignore_collect(collection_path, config):
    if collection_path != IMAGE_TESTS:
        return None
    asked = [Path(str(arg).split("::")[0]).resolve() for arg in config.args]
    return not any(path == IMAGE_TESTS or IMAGE_TESTS in path.parents for path in asked) or None


@pytest.fixture(autouse=True, scope="session")
def records_of_stateless_boxes_in_scratch(tmp_path_factory):
    """A box run without a state directory (the demos, `pribox run --config FILE`) keeps its
    call records under $XDG_STATE_HOME/pribox: in tests that is a scratch directory, never ~."""
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    yield
    if before is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = before
