"""``vaerobust data fetch``: obtain a dataset through its chain of sources, verify it, cache it."""

from __future__ import annotations

from pathlib import Path

from vaerobust.errors import ConfigError

FETCHABLE = ("mnist", "fashion_mnist", "dsprites", "celeba")


def run(name: str, root: Path | None = None) -> str:
    """Fetch ``name`` into the cache; returns a line saying where it is and its checksum."""
    if name == "mnist":
        from vaerobust.data.mnist import fetch_mnist, mnist_fingerprint

        path = fetch_mnist(root=root)
        return f"mnist cached at {path} (sha256 of the arrays: {mnist_fingerprint(root=root)})"
    if name == "fashion_mnist":
        from vaerobust.data.fashion_mnist import fetch_fashion_mnist

        path, sha = fetch_fashion_mnist(root=root)
        return f"fashion_mnist cached at {path} (sha256 of the arrays: {sha})"
    if name == "dsprites":
        from vaerobust.data.dsprites import build_generated_cache, load_dsprites_grid

        if root is not None:
            grid = load_dsprites_grid(root=root)
            return f"dsprites read from {root} ({len(grid)} images, sha256 {grid.fingerprint})"
        return f"dsprites generated at {build_generated_cache()}"
    if name == "celeba":  # never downloaded: check the user's folder and build the 64x64 cache
        from vaerobust.data.celeba import load_celeba_data

        data = load_celeba_data(root, progress=True)
        return (f"celeba from {data.manifest['images']}: {len(data.files)} images, crop {data.manifest['crop']}, "
                f"{data.manifest['size']}x{data.manifest['size']}, cached at {data.manifest['cache']} "
                f"(sha256 of list_attr_celeba.txt: {data.manifest['attr_sha256']})")
    raise ConfigError(f"dataset {name!r} cannot be fetched; expected one of: {', '.join(FETCHABLE)}")


__all__ = ["FETCHABLE", "run"]
