"""PyInstaller's entry point for the single-file `rme-agent` (see rme-agent.spec)."""

import sys

from agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
