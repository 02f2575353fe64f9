"""Optional coverage-guided fuzzing of the input decoders with atheris (not run by pytest).

atheris is not a dependency: install it into the environment that runs this
(`pip install atheris`; 3.0.0 has a CPython 3.11 manylinux wheel), then

    python -m tests.security.atheris_decoders -atheris_runs=200000 -max_len=20000 CORPUS_DIR

An empty CORPUS_DIR is seeded with a valid payload of every shape (keep it under .pulse/,
which git ignores).
It checks what tests/security/test_fuzz_codec.py checks (only PulseValidationError, short
reasons, a publishable dead letter, re-encoding round trips) on inputs libFuzzer evolves
from coverage of `topics`; any other exception stops it with the input saved.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import atheris  # type: ignore[import-not-found]

with atheris.instrument_imports(include=["topics"]):
    import topics.codec  # noqa: F401 - instrumented for coverage
    from topics.catalogue import INPUT_KINDS

from tests.security.hostile import SHAPES
from tests.security.test_fuzz_codec import NOW, check_decoder

_SKEWS = (timedelta(0), timedelta(minutes=5), timedelta(days=3650))


def one_input(data: bytes) -> None:
    """Byte 0 picks the topic, byte 1 `now` and the skew; the rest is the message."""
    if len(data) < 2:
        return
    kind = INPUT_KINDS[data[0] % len(INPUT_KINDS)]
    now = NOW if data[1] & 1 else None
    skew = _SKEWS[(data[1] >> 1) % len(_SKEWS)]
    check_decoder(kind, data[2:], now, skew)


def seed(corpus: Path) -> None:
    """Start an empty corpus from one valid payload of every shape of every input topic."""
    corpus.mkdir(parents=True, exist_ok=True)
    if any(corpus.iterdir()):
        return
    for index, kind in enumerate(INPUT_KINDS):
        for number, shape in enumerate(SHAPES[kind]):
            message = bytes([index, 0]) + json.dumps(shape()).encode()
            (corpus / f"{kind.value}-{number}").write_bytes(message)


def main() -> None:
    corpora = [Path(arg) for arg in sys.argv[1:] if not arg.startswith("-")]
    for corpus in corpora:
        seed(corpus)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
