"""Model architectures, one per file, built by name through ``create_model``."""

from . import pix2pix, smp_unet, tile_unet  # noqa: F401  (register their models)
from ._registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
