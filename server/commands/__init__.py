"""One module per `rme-server` sub-command; each exposes `register(subparsers)`.

A command module's `register` adds its parser and sets `handler=` to a function taking the parsed
`argparse.Namespace` and returning the process exit code.
"""
