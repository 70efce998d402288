"""The user panel (a local web page) and the local control channel the CLI shares with it."""

from agent.panel.control import NoAgent, call, running_agent
from agent.panel.host import PanelHost, PanelInfo, read_panel_info
from agent.panel.server import PanelAuth, PanelBackend, build_app

__all__ = [
    "NoAgent",
    "PanelAuth",
    "PanelBackend",
    "PanelHost",
    "PanelInfo",
    "build_app",
    "call",
    "read_panel_info",
    "running_agent",
]
