"""Everything about building a TensorRT engine that is not a TensorRT call.

Profile validation, workspace parsing, version checks, the engine cache key,
parser-error formatting, reading layer precisions back from the engine
inspector's JSON, output paths and the engine's model card: plain functions,
tested on CPU. The TensorRT calls themselves live in ``trt_network``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from revive.runtime.card import CardError, ModelCard, card_path_for_engine
from revive.runtime.errors import UserError

__all__ = [
    "MIN_VERSION",
    "BuildError",
    "ParserIssue",
    "Profile",
    "TensorRTMissing",
    "built_precision",
    "cache_key",
    "cached_engine_matches",
    "check_version",
    "engine_card",
    "format_parser_errors",
    "layer_dtypes_from_inspector",
    "output_paths",
    "parse_workspace",
    "validate_opt_level",
    "validate_profile",
]

MIN_VERSION = (10, 12)
CACHE_FORMAT = 1  # bump when the way engines are built changes, so old cached engines are rebuilt


class BuildError(UserError, RuntimeError):
    """A user-facing build problem: reported as one line, exit status 2, no traceback."""


class TensorRTMissing(BuildError):
    """The TensorRT Python bindings are not installed (or too old)."""

    fp16_onnx: Path | None = None  # the FP16 model already written, for the message


@dataclass(frozen=True)
class Profile:
    """The optimisation profile's batch sizes for the single uint8 input."""

    min: int
    opt: int
    max: int

    def shapes(self, image_size: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return tuple((b, 1, image_size, image_size) for b in (self.min, self.opt, self.max))  # type: ignore[return-value]

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def validate_profile(min_batch: int, opt_batch: int, max_batch: int, *, limit: int | None = None) -> Profile:
    """1 <= min <= opt <= max (<= ``limit``, the largest batch the ONNX model was exported for)."""
    if min_batch < 1:
        raise BuildError(f"--min-batch {min_batch}: batches start at 1")
    if not min_batch <= opt_batch <= max_batch:
        raise BuildError(f"batch profile min {min_batch}, opt {opt_batch}, max {max_batch}: "
                         "needs min <= opt <= max (e.g. --min-batch 1 --opt-batch 32 --max-batch 64)")
    if limit is not None and max_batch > limit:
        raise BuildError(f"--max-batch {max_batch}: the ONNX model was exported for batches up to {limit}; "
                         f"use --max-batch {limit} or less, or re-export with --max-batch {max_batch}")
    return Profile(min_batch, opt_batch, max_batch)


def validate_opt_level(level: int) -> int:
    if not 0 <= level <= 5:
        raise BuildError(f"--opt-level {level}: TensorRT's builder optimisation level is 0..5 (default 3)")
    return level


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1000**3, "gib": 1024**3, "t": 1024**4, "tb": 1000**4, "tib": 1024**4}


def parse_workspace(text: str | int) -> int:
    """``1073741824``, ``4GiB``, ``512MiB``, ``1.5G`` (K/M/G/T and KiB.. are powers of 1024, KB.. of 1000)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise BuildError(f"--workspace {text!r}: give bytes or a size such as 512MiB, 4GiB, 8G")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < 1:
        raise BuildError(f"--workspace {text!r}: must be at least one byte")
    return size


def parse_version(version: str) -> tuple[int, int]:
    parts = re.findall(r"\d+", version)
    if len(parts) < 2:
        raise BuildError(f"cannot read the TensorRT version {version!r}")
    return int(parts[0]), int(parts[1])


def check_version(version: str) -> int:
    """The major version (10 or 11+) when ``version`` is new enough; TensorRTMissing otherwise."""
    major, minor = parse_version(version)
    if (major, minor) < MIN_VERSION:
        raise TensorRTMissing(f"TensorRT {version} is too old: revive builds strongly typed FP16 engines with "
                              f"TensorRT >= {MIN_VERSION[0]}.{MIN_VERSION[1]} (pip install -U tensorrt)")
    return major


def cache_key(*, onnx_sha256: str, tensorrt_version: str, compute_capability: str, profile: Profile,
              opt_level: int, workspace: int, input_name: str) -> str:
    """What decides an engine's contents: a cached engine with the same key is reused."""
    facts = {"format": CACHE_FORMAT, "onnx_sha256": onnx_sha256, "tensorrt": tensorrt_version,
             "compute_capability": compute_capability, "profile": profile.as_dict(), "opt_level": opt_level,
             "workspace": workspace, "input": input_name}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def cached_engine_matches(engine: Path, key: str) -> bool:
    """True when ``engine`` and its card exist and the card records ``key``."""
    card_file = card_path_for_engine(engine)
    if not (engine.is_file() and card_file.is_file()):
        return False
    try:
        card = ModelCard.from_json(card_file.read_text())
    except CardError:
        return False
    return card.build.get("cache_key") == key


@dataclass(frozen=True)
class ParserIssue:
    node_name: str
    operator: str
    desc: str

    def __str__(self) -> str:
        where = f"node {self.node_name!r}" if self.node_name else "(no node)"
        return f"{where} ({self.operator or 'unknown operator'}): {self.desc}"


def format_parser_errors(path: str | Path, issues: Iterable[ParserIssue]) -> str:
    issues = list(issues)
    lines = [f"{path}: TensorRT's ONNX parser rejected the model ({len(issues)} error(s)):"]
    lines += [f"  {issue}" for issue in issues] or ["  (the parser gave no details)"]
    return "\n".join(lines)


def _datatype_of(format_text: str) -> str:
    text = format_text.lower()
    for needle, name in (("fp16", "half"), ("half", "half"), ("bf16", "bf16"), ("fp32", "float"),
                         ("float", "float"), ("uint8", "uint8"), ("int8", "int8"), ("fp8", "fp8"),
                         ("int32", "int32"), ("int64", "int64"), ("bool", "bool")):
        if needle in text:
            return name
    return "other"


def layer_dtypes_from_inspector(info: str) -> Counter:
    """Count layer outputs per data type in the engine inspector's JSON (detailed verbosity).

    Each layer's ``Outputs`` lists a ``Format/Datatype`` string such as
    ``"Channel major FP16 format where channel % 8 == 0"`` or ``"Row major linear FP32"``.
    With less than detailed verbosity layers are plain names and nothing is counted.
    """
    counts: Counter = Counter()
    try:
        data = json.loads(info)
    except (json.JSONDecodeError, TypeError):
        return counts
    for layer in data.get("Layers", []) if isinstance(data, dict) else []:
        if not isinstance(layer, dict):
            continue
        for tensor in layer.get("Outputs", []):
            if isinstance(tensor, dict) and "Format/Datatype" in tensor:
                counts[_datatype_of(str(tensor["Format/Datatype"]))] += 1
    return counts


def built_precision(layer_dtypes: Counter | dict[str, int]) -> str:
    """``fp16`` when any layer computes in half precision, else ``fp32``."""
    return "fp16" if layer_dtypes.get("half", 0) > 0 else "fp32"


def output_paths(output: str | Path | None, source: str | Path) -> tuple[Path, Path, Path]:
    """(NAME.engine, NAME.onnx for the FP32 model, NAME.fp16.onnx) from ``-o`` or the source's name."""
    from revive.export.naming import artifacts

    if output:
        engine = Path(output)
        if engine.suffix not in (".engine", ".plan"):
            raise BuildError(f"-o {output}: the engine file must end in .engine or .plan")
    else:
        engine = artifacts(source).engine
    names = artifacts(engine)
    return engine, names.onnx(), names.onnx("fp16")


def engine_card(onnx_card: ModelCard, *, profile: Profile, precision: str, build: dict[str, Any]) -> ModelCard:
    """The card written beside an engine: the ONNX model's card, this profile, what was built."""
    producer = {**onnx_card.producer, "tensorrt": str(build.get("tensorrt_version", ""))}
    return onnx_card.replace(batch=profile.as_dict(), precision=precision, producer=producer,
                             build={"backend": "tensorrt", **build})
