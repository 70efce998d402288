"""`python -m agent.vault …` = `rme-agent vault …`, without loading the agent's other commands."""

import sys

from agent.commands.vault import standalone_main

sys.exit(standalone_main())
