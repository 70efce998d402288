"""The user panel (a local web page) and the local control channel the CLI shares with it.

`server` (the page's routes and walls), `host` (serving it in the agent's loop), `info` (`panel.json`),
`control` (the CLI's side). Nothing is imported here, so `control` stays light for the CLI.
"""
