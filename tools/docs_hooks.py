"""MkDocs hook (mkdocs.yml: hooks): every page exists in both languages.

The i18n plugin falls back to the Chinese page when an English one is missing (it has to, so that
docs/img/ and docs/ARCHITECTURE.md serve both languages); this hook turns a page missing in
docs/zh/ or docs/en/ into a warning, which `mkdocs build --strict` makes an error.
"""

import logging
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.docs_pages")
LANGUAGES = ("zh", "en")


def on_config(config):
    docs = Path(config["docs_dir"])
    pages = {lang: {p.relative_to(docs / lang).as_posix() for p in (docs / lang).rglob("*.md")} for lang in LANGUAGES}
    for lang in LANGUAGES:
        for other in LANGUAGES:
            for page in sorted(pages[other] - pages[lang]):
                log.warning(f"docs/{lang}/{page} is missing: docs/{other}/{page} has no twin in that language")
    return config
