"""The README a newcomer reads: every relative link and image is a file of this repository
(it once linked ../shared/ARCHITECTURE.md, outside it), and it shows the phone screenshots."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
TARGETS = re.findall(r"\]\(([^)\s]+)\)|src=\"([^\"]+)\"", README)


def test_every_relative_link_and_image_of_the_readme_is_a_file_of_the_repository():
    relative = [a or b for a, b in TARGETS if not re.match(r"[a-z]+:|#", a or b)]
    assert "docs/architecture.md" in relative
    for target in relative:
        path = (ROOT / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{target} is outside the repository"
        assert path.exists(), f"{target} does not exist"


def test_the_readme_shows_the_phone_screenshots():
    for name in ("phone-inbox", "phone-conversation", "phone-settings"):
        assert f"docs/screenshots/{name}.png" in README
