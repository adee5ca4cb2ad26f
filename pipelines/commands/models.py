"""`vsr models`: list the registry."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the named models, their scale, size and whether they are cached")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vsr.models import REGISTRY, default_weights_path
    from vsr.models.weights import cache_dir, is_cached

    print(f"{'name':<18} {'family':<14} {'scale':>5} {'params':>10}  {'cached':<6} description")
    for entry in REGISTRY.values():
        if entry.arch is None:
            params, scale, cached = "0", "any", "-"
        else:
            module = entry.arch.build()
            params = f"{sum(p.numel() for p in module.parameters()):,}"
            scale, cached = str(entry.arch.scale), "yes" if is_cached(entry) else "no"
        print(f"{entry.name:<18} {entry.family:<14} {scale:>5} {params:>10}  {cached:<6} {entry.description}")
    for s in (2, 4):
        path = default_weights_path(s)
        state = "shipped" if path.is_file() else "not shipped"
        print(f"{'safmn-default-x' + str(s):<18} {'safmn':<14} {s:>5} {'':>10}  {'-':<6} default model ({state})")
    print(f"\ncache: {cache_dir()} (set VSR_CACHE_DIR to move it)")
    return 0
