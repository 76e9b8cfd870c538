"""``python -m tierhub``: the same command line as the ``tierhub`` script.

The base package knows nothing of the floors above it: the command line lives in ``flows``
and is found the way the ``tierhub`` script finds it, through the entry point the
distribution declares (``[project.scripts]`` in ``pyproject.toml``), not through an import.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points


def main() -> None:
    """Run the ``tierhub`` console script's entry point."""
    script = next(iter(entry_points(group="console_scripts", name="tierhub")), None)
    if script is None:
        sys.exit("tierhub is not installed in this environment: run `uv sync` in the checkout, then `uv run tierhub`")
    script.load()()


if __name__ == "__main__":
    main()
