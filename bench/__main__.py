"""Run every benchmark module in bench/ (or the ones named): ``python -m bench [api_keys ...]``."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def bench_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(bench.__path__) if not info.name.startswith("_"))


def main(argv: list[str]) -> int:
    available = bench_modules()
    chosen = argv or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    for name in chosen:
        print(f"=== bench.{name} ===", flush=True)
        importlib.import_module(f"bench.{name}").main()
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
