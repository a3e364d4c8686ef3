"""file:// references: read only below the configured root, whatever symlinks and ".." say."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragline.config import ConfigError
from services.ingest.fetching import ContentFetcher, UnreadableReference, shown

LIMIT = 64


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "published"
    (root / "team").mkdir(parents=True)
    (root / "team" / "guide.md").write_bytes(b"# Guide\n")
    (tmp_path / "secret.txt").write_bytes(b"not for ingest")
    return root


def fetch(root: Path | None, uri: str) -> bytes:
    return ContentFetcher(root, LIMIT, 5.0).fetch(uri)


def refusal(root: Path | None, uri: str) -> str:
    with pytest.raises(UnreadableReference) as refused:
        fetch(root, uri)
    return str(refused.value)


def test_a_file_below_the_root_is_read(root):
    assert fetch(root, (root / "team" / "guide.md").as_uri()) == b"# Guide\n"
    # Percent-escapes are decoded, and "localhost" is this host.
    assert fetch(root, f"file://localhost{root}/team/guide%2Emd") == b"# Guide\n"


def test_a_symlink_inside_the_root_to_a_file_inside_it_is_followed(root):
    (root / "latest.md").symlink_to(root / "team" / "guide.md")
    assert fetch(root, (root / "latest.md").as_uri()) == b"# Guide\n"


@pytest.mark.parametrize(
    "path",
    [
        lambda root: root / ".." / "secret.txt",
        lambda root: root / "team" / ".." / ".." / "secret.txt",
        lambda root: Path("/etc/hostname"),
        lambda root: root.parent / (root.name + "-sibling") / "x.md",  # a prefix of the root's name is not the root
    ],
)
def test_a_path_leading_out_of_the_root_is_refused_before_anything_is_read(root, path):
    target = path(root)
    reason = refusal(root, "file://" + str(target))
    assert f"resolves to {Path(os.path.realpath(target))}, outside the folder ingest may read ({root}" in reason
    assert "RAGLINE_INGEST_FILE_ROOT" in reason


def test_a_symlink_leading_out_of_the_root_is_refused(root, tmp_path):
    (root / "team" / "shortcut.txt").symlink_to(tmp_path / "secret.txt")
    (root / "escape").symlink_to(tmp_path)
    assert "outside the folder ingest may read" in refusal(root, (root / "team" / "shortcut.txt").as_uri())
    assert "outside the folder ingest may read" in refusal(root, (root / "escape" / "secret.txt").as_uri())


def test_without_a_root_no_file_is_read(root):
    assert "this ingest reads no files: set RAGLINE_INGEST_FILE_ROOT" in refusal(None, (root / "team" / "guide.md").as_uri())


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda root: None, "there is no file at"),
        (lambda root: root.joinpath("team", "missing.md").mkdir(), "is not a regular file"),
        (lambda root: os.mkfifo(root / "team" / "missing.md"), "is not a regular file"),
        (lambda root: root.joinpath("team", "missing.md").write_bytes(b"x" * (LIMIT + 1)), f"holds {LIMIT + 1} bytes, above the limit of {LIMIT}"),
    ],
)
def test_what_is_not_a_readable_file_within_the_limit_is_refused(root, make, expected):
    make(root)
    assert expected in refusal(root, (root / "team" / "missing.md").as_uri())


def test_a_relative_path_is_refused(root):
    assert "does not name an absolute path" in refusal(root, "file:team/guide.md")


def test_the_root_must_be_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="RAGLINE_INGEST_FILE_ROOT=.* is not a folder"):
        ContentFetcher(tmp_path / "nowhere", LIMIT, 5.0)


def test_credentials_in_a_uri_are_not_shown():
    assert shown("https://reader:s3cret@docs.example:8443/a.pdf?v=2") == "https://docs.example:8443/a.pdf?v=2"
    assert shown("https://docs.example/a.pdf") == "https://docs.example/a.pdf"
