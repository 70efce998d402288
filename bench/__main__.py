"""Run every benchmark module under `bench/` (each has a `main() -> None`)."""

from __future__ import annotations

import importlib
import pkgutil

import bench


def main() -> None:
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        print(f"== bench.{info.name}")
        module.main()


if __name__ == "__main__":
    main()
