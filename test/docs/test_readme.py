"""README.md is the front door: short, with the two commands, and every link leads somewhere."""

import re
from pathlib import Path

from markdown.extensions.toc import slugify

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MAX_LINES = 200
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
CODE_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchors(markdown_file: Path) -> set[str]:
    """The heading anchors of a page, as GitHub and the docs site make them."""
    text = CODE_BLOCK.sub("", markdown_file.read_text())
    return {slugify(title.strip(), "-") for title in HEADING.findall(text)}


def relative_links(markdown_file: Path) -> list[str]:
    return [target for target in LINK.findall(markdown_file.read_text()) if not re.match(r"[a-z]+:", target)]


def test_readme_is_at_most_200_lines():
    lines = README.read_text().splitlines()

    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines: move detail into docs/"


def test_readme_has_the_two_commands():
    code = "\n".join(CODE_BLOCK.findall(README.read_text()))

    assert "bash scripts/demo.sh" in code
    assert "bash scripts/test.sh" in code


def test_readme_links_lead_to_files_and_headings():
    broken = []
    for target in relative_links(README):
        path, _, anchor = target.partition("#")
        linked = (README.parent / path) if path else README
        if not linked.exists():
            broken.append(f"{target}: no file {path}")
        elif anchor and anchor not in anchors(linked):
            broken.append(f"{target}: no heading '{anchor}' in {path or 'README.md'}")

    assert relative_links(README), "README.md should link into docs/"
    assert broken == []


def test_anchors_are_made_as_github_makes_them(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Camera-sized images between processes (Fast DDS)\n\n```bash\n# not a heading\n```\n## SAM 3's weights\n")

    assert anchors(page) == {"camera-sized-images-between-processes-fast-dds", "sam-3s-weights"}
