"""The documentation site builds as CI would publish it: strict, offline, every page reachable."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 120
# What a page may load from elsewhere: nothing (links to other sites are fine, assets are not).
EXTERNAL_ASSET = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=\"(?:https?:)?//[^\"]+\"")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built with `mkdocs build --strict`: any warning (a broken link or anchor, a page
    left out of the navigation) fails the build."""
    site_dir = tmp_path_factory.mktemp("site")
    # mkdocs-material announces its end of life on every build; that is no warning about the docs.
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}{build.stderr}"
    return site_dir


def test_site_builds_strictly(site):
    assert (site / "index.html").is_file()
    assert (site / "parameters.html").is_file()


def test_site_pages_load_nothing_from_the_network(site):
    pages = sorted(site.glob("*.html"))
    external = {page.name: EXTERNAL_ASSET.findall(page.read_text()) for page in pages}

    assert len(pages) > 1, "the site should have its pages"
    assert {name: assets for name, assets in external.items() if assets} == {}


def test_external_assets_are_recognised():
    page = '<link rel="stylesheet" href="https://fonts.example/css"><script src="assets/main.js"></script>'

    assert EXTERNAL_ASSET.findall(page) == ['<link rel="stylesheet" href="https://fonts.example/css"']
