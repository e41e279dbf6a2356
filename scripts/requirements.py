"""Print the requirements of tonebridge-ml with the given extras, one a line, read from
pyproject.toml (stdlib only, so it runs before anything is installed).

    python scripts/requirements.py worker api > requirements.txt
    pip install -c constraints.txt -r requirements.txt

Extras that name tonebridge-ml itself (``gpu`` = ``[trainer]`` + bitsandbytes, ``all``) are
expanded, so the list installs without the package (the Dockerfile's dependency layer).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def requirements(extras: list[str], pyproject: Path = PYPROJECT) -> list[str]:
    """The core requirements, then each extra's, self-references expanded, no repeats."""
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted, seen, found = list(extras), set(), list(project["dependencies"])
    self_reference = re.compile(rf"{re.escape(project['name'])}\[([\w,\s-]+)\]$")
    while wanted:
        extra = wanted.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in project["optional-dependencies"][extra]:
            nested = self_reference.match(requirement)
            if nested:
                wanted += [name.strip() for name in nested.group(1).split(",")]
            else:
                found.append(requirement)
    return list(dict.fromkeys(found))


if __name__ == "__main__":
    sys.stdout.write("".join(f"{line}\n" for line in requirements(sys.argv[1:])))
