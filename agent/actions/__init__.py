"""Launching and killing engineer commands (`command`): process groups, the crash ledger, the kill.

The session side of a command — its prompt, its output's release — is `agent.executors.command`.
"""

from agent.actions.command import RunningCommand, finish_command, kill_tree, run_command, start_command

__all__ = ["RunningCommand", "finish_command", "kill_tree", "run_command", "start_command"]
