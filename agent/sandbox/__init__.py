"""Where engineer commands run: contained (a cgroup on Linux, a Job Object on Windows) so the kill
switch reaches everything they start, and sandboxed so the vault and the agent's data do not exist for
them. `launch.prepare` chooses per command; `docs/agent.md` ("Commands: containment and sandbox") says
what each mechanism gives and what it cannot."""

from agent.sandbox.cgroup import CgroupUnavailable, CommandCgroup
from agent.sandbox.launch import Launch, prepare

__all__ = ["CgroupUnavailable", "CommandCgroup", "Launch", "prepare"]
