"""Crash-rescue boot images: the live system's build (`rescue.build`), the per-customer provisioning slot
(`rescue.provision`), both driven by `rme-server rescue`. See docs/rescue.md."""
