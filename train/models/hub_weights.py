"""smp's pretrained encoder weights from the Hugging Face hub: the local cache first, then one quick attempt.

smp's own loader retries for ~20 s when the hub cannot be reached; a training
run on an offline machine should start at once with random weights and say so.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["hub_file"]

log = logging.getLogger(__name__)

_HUB_TIMEOUT_S = 3.0


def hub_file(name: str, weights: str) -> Path | None:
    """smp's weight file from the local Hugging Face cache, else one quick download attempt."""
    from huggingface_hub import hf_hub_download
    from segmentation_models_pytorch.encoders import encoders

    settings = encoders.get(name, {}).get("pretrained_settings", {}).get(weights)
    if settings is None:
        log.warning("encoder %s has no %r weights: random initialisation", name, weights)
        return None
    args = dict(repo_id=settings["repo_id"], filename="model.safetensors", revision=settings["revision"])
    try:
        return Path(hf_hub_download(**args, local_files_only=True))
    except Exception:  # not cached
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or not _hub_reachable():
        log.warning("encoder %s: %s weights are not cached and the Hugging Face hub is unreachable: "
                    "random initialisation (pass --encoder-weights FILE or pre-fill the HF cache)", name, weights)
        return None
    try:
        return Path(hf_hub_download(**args, etag_timeout=_HUB_TIMEOUT_S))
    except Exception as exc:
        log.warning("encoder %s: downloading %s weights failed (%s): random initialisation", name, weights, exc)
        return None


def _hub_reachable() -> bool:
    """One TCP connect with a short timeout: the hub client itself retries for ~20 s when offline."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=_HUB_TIMEOUT_S).close()
        return True
    except OSError:
        return False
