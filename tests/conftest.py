"""Fixtures of siteproof's own tests (the siteproof plugin itself is activated by the top-level conftest.py)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PRIVATE_REGISTRIES, stop_lab


@pytest.fixture
def cli_labs() -> Iterator[list[str]]:
    """Lab ids a test started through the CLI (or saw started): every one of them is torn down
    when the test ends, passed or failed, so a failing test never leaves a lab for the rest of
    the run."""
    started: list[str] = []
    yield started
    for lab_id in started:
        stop_lab(lab_id)


@pytest.fixture
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A lab registry of this test's own (here and in every process it starts): for tests of
    reaping, which must not reap, or be reaped by, the labs of tests running beside them. It
    is listed where tests that count namespaces look (tests.helpers.PRIVATE_REGISTRIES): its
    labs are no refused build's leftovers."""
    from siteproof.backends.netns import registry

    root = tmp_path / "labs"
    root.mkdir(mode=0o700)
    listed = PRIVATE_REGISTRIES / secrets.token_hex(6)
    for _ in range(3):  # another test may remove the emptied folder between the two steps
        PRIVATE_REGISTRIES.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            listed.write_text(str(root))
            break
    monkeypatch.setattr(registry, "STATE_ROOT", root)
    monkeypatch.setenv("SITEPROOF_STATE", str(root))
    try:
        yield root
    finally:
        listed.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # nothing left behind once the last such test ends
            PRIVATE_REGISTRIES.rmdir()
