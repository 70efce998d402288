"""Executors for the four things an engineer may ask for — diagnose, repair, command, push_file — and
their plain-words descriptions. There is no executor that reads, lists or sends the user's files."""

from agent.actions.command import RunningCommand, finish_command, kill_tree, run_command, start_command
from agent.actions.describe import Described, describe

__all__ = [
    "Described",
    "RunningCommand",
    "describe",
    "finish_command",
    "kill_tree",
    "run_command",
    "start_command",
]
