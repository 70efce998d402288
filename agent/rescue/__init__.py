"""Rescue mode: the agent on the rescue live system (`rme-agent rescue boot`) and what it drives —
provisioning from the image's slot, the network, the tty rescue screen, the disks. See docs/rescue.md."""
