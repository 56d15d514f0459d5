"""`python -m bench [NAME ...]`: run every benchmark module (or the named ones) in turn."""

import importlib
import pkgutil
import sys

import bench

names = sys.argv[1:] or sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
for name in names:
    print(f"=== bench/{name} ===", flush=True)
    importlib.import_module(f"bench.{name}").main()
