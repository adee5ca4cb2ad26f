"""`vsr models`: list the registry."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the named models, their scale, size and whether they are cached")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vsr.models import REGISTRY, SHIPPED, resolve_model
    from vsr.models.weights import cache_dir, is_cached

    print(f"{'name':<25} {'family':<14} {'scale':>5} {'params':>10}  {'cached':<10} description")
    for entry in REGISTRY.values():
        if entry.arch is None:
            params, scale, cached = "0", "any", "-"
        else:
            params = _params(entry.arch.build())
            scale, cached = str(entry.arch.scale), "yes" if is_cached(entry) else "no"
        print(f"{entry.name:<25} {entry.family:<14} {scale:>5} {params:>10}  {cached:<10} {entry.description}")
    for m in SHIPPED.values():
        state, params = ("in package", _params(resolve_model(m.name).module)) if m.available else ("missing", "-")
        print(f"{m.name:<25} {m.family:<14} {m.scale:>5} {params:>10}  {state:<10} {m.description}")
    print(f"\ncache: {cache_dir()} (set VSR_CACHE_DIR to move it)")
    return 0



def _params(module) -> str:
    return f"{sum(p.numel() for p in module.parameters()):,}"
