"""The Dockerfile and .dockerignore, checked without a Docker engine.

Pinned base, non-root final stage, the `pulse` entry point, the web port the
settings default to, and a build context that holds what the install needs and
nothing else (the virtualenv, the local stack's data, git history).
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass, field

import pytest

from engine.settings import Settings
from tests.ops.support import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse_dockerfile() -> list[Stage]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], rest.split()[0])
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append((keyword, rest))
    return stages


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    result = False
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw.removeprefix("!").strip("/")
        for end in range(1, len(parts) + 1):
            candidates = ["/".join(parts[:end])]
            if pattern.startswith("**/"):
                candidates = ["/".join(parts[start:end]) for start in range(end)]
                pattern_tail = pattern[3:]
            else:
                pattern_tail = pattern
            if any(fnmatch.fnmatchcase(c, pattern_tail) for c in candidates):
                result = not negated
                break
    return result


def test_the_base_image_is_pinned_to_a_patch_release() -> None:
    for stage in parse_dockerfile():
        assert re.fullmatch(
            r"python:3\.1[1-9]\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", stage.image
        ), f"base image {stage.image!r} is not pinned to an exact slim Python release"


def test_the_final_stage_runs_pulse_as_an_unprivileged_user() -> None:
    final = parse_dockerfile()[-1]
    users = [rest for keyword, rest in final.instructions if keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user.isdigit(), f"USER {users[-1]}: use a numeric uid (runAsNonRoot checks it)"
    assert int(user) >= 1000, f"USER {users[-1]}: not an unprivileged uid"
    entrypoints = [json.loads(rest) for word, rest in final.instructions if word == "ENTRYPOINT"]
    assert entrypoints == [["pulse"]]
    exposed = [rest for keyword, rest in final.instructions if keyword == "EXPOSE"]
    assert exposed == [str(Settings.model_fields["web_port"].default)]
    copies = [rest for keyword, rest in final.instructions if keyword == "COPY"]
    assert copies
    assert all(c.startswith("--from=") for c in copies), "final stage: only the built venv"


def test_the_build_copies_what_the_package_needs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    needed |= {p.rstrip("*") for p in packages}
    copied: set[str] = set()
    for stage in parse_dockerfile():
        for keyword, rest in stage.instructions:
            if keyword == "COPY" and not rest.startswith("--from="):
                copied.update(source.rstrip("/") for source in rest.split()[:-1])
    assert needed <= copied, f"not copied into the build: {sorted(needed - copied)}"
    patterns = dockerignore_patterns()
    for source in sorted(copied):
        path = ROOT / source
        assert path.exists(), f"COPY {source}: no such file"
        files = (
            [path]
            if path.is_file()
            else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        )
        kept = [f for f in files if not ignored(str(f.relative_to(ROOT)), patterns)]
        assert kept, f"COPY {source}: .dockerignore leaves nothing of it in the context"
        assert len(kept) == len(files), f"COPY {source}: .dockerignore drops some of its files"


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".pulse/kafka/data/x",
        ".git/HEAD",
        "tests/conftest.py",
        "out/x.json",
        "engine/__pycache__/cli.cpython-311.pyc",
        "docker-compose.yml",
    ],
)
def test_the_build_context_leaves_out(path: str) -> None:
    assert ignored(path, dockerignore_patterns())


def test_the_ignore_matcher_keeps_sources() -> None:
    patterns = dockerignore_patterns()
    assert not ignored("engine/cli.py", patterns)
    assert not ignored("signals/default_rules.yaml", patterns)
    assert not ignored("topics/schemas/Trigger.schema.json", patterns)
