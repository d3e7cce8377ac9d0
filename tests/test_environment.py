"""pyproject.toml and environment.yml list the same pinned dependencies."""

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _normalize(spec: str) -> tuple[str, str]:
    req = Requirement(spec)
    return req.name.lower().replace("_", "-"), str(req.specifier)


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(map(_normalize, project["dependencies"]))
    for group in ("book", "dev"):
        wanted |= set(map(_normalize, project["optional-dependencies"][group]))

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_normalize(s) for s in pip_section if not s.startswith("-")}
    assert listed == wanted, (
        f"only in pyproject.toml: {sorted(wanted - listed)}; "
        f"only in environment.yml: {sorted(listed - wanted)}"
    )
    assert "python=3.11" in env["dependencies"]
    assert "-e ." in pip_section


def test_torch_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]


def test_binder_installs_the_cpu_build_of_torch():
    """Binder builds environment.yml: the CPU index must be offered, or pip takes PyPI's
    CUDA-enabled wheel and its gigabytes of NVIDIA libraries."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip_section
    assert "torch==2.13.0" in pip_section
