"""Model families, one module each, registered by name: what ``revive-train``, the exporter and the
benchmarks iterate over. Adding one: a module that calls ``register_family(Family(...))`` (see
``pix2pix.py``), imported below or by whoever needs it."""

from ._registry import (Family, UnknownFamilyError, family_of_checkpoint, get_family, list_families, load_hook,
                        register_family)
from . import pix2pix, two_stage, builtin  # noqa: E402,F401  (register the built-in families, in CLI order)

__all__ = ["Family", "UnknownFamilyError", "family_of_checkpoint", "get_family", "list_families", "load_hook",
           "register_family"]
