"""RME rescue images: a bootable live system whose agent phones home when the OS is dead (issue pending)."""
