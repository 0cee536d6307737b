"""MkDocs hooks (mkdocs.yml). The site's home is the repository's README.md. The pages link the repository's own
files (the model cards under weights/, their figures, BENCHMARKS.md, registry.json) as ``../PATH`` and the README
as ``PATH``, which work on GitHub; for the site those files are added under ``PATH`` and the links rewritten to
match, so that ``mkdocs build --strict`` checks them too."""
from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

REPO = Path(__file__).resolve().parents[1]
UP = re.compile(r"\]\(\.\./([^)#\s]+)(#[^)\s]*)?\)")  # a docs page's link to a file of the repository
ROOT = re.compile(r"\]\((?!https?:|#|mailto:)([^)#\s]+)(#[^)\s]*)?\)")  # any relative link (the README's)
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def _linked(docs: Path) -> set:
    """The repository files the pages and the README link (and the images a linked Markdown file shows)."""
    found = set()
    for page in docs.glob("*.md"):
        found.update(m.group(1) for m in UP.finditer(page.read_text(encoding="utf-8")))
    found.update(m.group(1) for m in ROOT.finditer((REPO / "README.md").read_text(encoding="utf-8"))
                 if not m.group(1).startswith("docs/"))
    for path in list(found):
        if path.endswith(".md") and (REPO / path).is_file():
            for image in IMAGE.findall((REPO / path).read_text(encoding="utf-8")):
                if not re.match(r"https?:", image):
                    found.add(str(Path(path).parent / image))
    return found


def on_files(files, config):
    files.append(File("README.md", str(REPO), config["site_dir"], config["use_directory_urls"]))
    for path in sorted(_linked(Path(config["docs_dir"]))):
        if (REPO / path).is_file() and files.get_file_from_path(path) is None:
            files.append(File(path, str(REPO), config["site_dir"], config["use_directory_urls"]))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == "README.md":  # the home page: its docs/ links are the site's pages
        return ROOT.sub(lambda m: f"]({m.group(1).removeprefix('docs/')}{m.group(2) or ''})", markdown)
    if "/" in page.file.src_uri:  # a linked file of the repository's: its own links are its folder's
        return markdown
    return UP.sub(lambda m: f"]({m.group(1)}{m.group(2) or ''})", markdown)
