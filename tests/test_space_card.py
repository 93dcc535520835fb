"""README's front matter is the Hugging Face Space card; it must match the project."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, "README.md must start with a YAML front matter block"
    fields = {}
    for line in match.group(1).splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip().strip('"')
    return fields


def pinned(package: str) -> str:
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    match = re.search(rf"^{package}==([\w.]+)\s*$", requirements, re.MULTILINE)
    assert match, f"{package} must be pinned with == in requirements.txt"
    return match.group(1)


def test_space_card_has_the_fields_a_space_needs():
    card = front_matter()
    for field in ("title", "emoji", "sdk", "sdk_version", "app_file", "license"):
        assert card.get(field), f"missing {field}"
    assert card["sdk"] == "gradio"
    assert card["app_file"] == "app.py" and (ROOT / card["app_file"]).is_file()
    assert card["title"] == "Digit Sketchpad"


def test_space_sdk_version_is_the_pinned_gradio():
    assert front_matter()["sdk_version"] == pinned("gradio")


def test_procfile_binds_all_interfaces_on_port():
    line = (ROOT / "Procfile").read_text(encoding="utf-8").strip()
    assert line.startswith("web: ")
    assert "GRADIO_SERVER_NAME=0.0.0.0" in line and "python app.py" in line
