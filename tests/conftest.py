"""tests/image boots the built firmware under qemu (minutes): collected only when asked for by
path (`make image-test`), never in the default run."""

from pathlib import Path

IMAGE_TESTS = Path(__file__).resolve().parent / "image"


def pytest_ignore_collect(collection_path, config):
    if collection_path != IMAGE_TESTS:
        return None
    asked = [Path(str(arg).split("::")[0]).resolve() for arg in config.args]
    return not any(path == IMAGE_TESTS or IMAGE_TESTS in path.parents for path in asked) or None
