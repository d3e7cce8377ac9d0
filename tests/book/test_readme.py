"""README.md stays true: its set-up commands exist and its Python example runs."""

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_gives_the_two_commands_that_ci_uses():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["bash dev.sh book", "bash dev.sh test"]
    assert "bash dev.sh test" in (ROOT / ".ci" / "run").read_text()


def test_readme_python_example_runs():
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    laws = namespace["laws"]
    assert len(laws) == 2
    for law in laws:
        assert law.shape == (501, 100)
        np.testing.assert_allclose(law.sum(axis=1), 1.0, atol=1e-9)
    # the predicted stationary mean sits near the least-squares solution
    minimizer = namespace["problem"].minimizers()[0]
    np.testing.assert_allclose(namespace["means"], minimizer, atol=0.1)


def test_readme_layout_lists_every_module_of_the_package():
    layout = README[README.index("## Layout") :]
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in layout.splitlines()
        if line.startswith("| `sgdllm/")
    }
    missing = []
    for path in sorted((ROOT / "sgdllm").rglob("*.py")):
        if path.name == "__init__.py":
            continue
        folder = path.parent.relative_to(ROOT).as_posix() + "/"
        row = rows.get(folder, "")
        if folder == "sgdllm/predict/":  # predict/'s modules are listed in the sgdllm/ row
            row = rows.get("sgdllm/", "")
        if f"`{path.stem}`" not in row:
            missing.append(path.relative_to(ROOT).as_posix())
    assert not missing, f"README's layout table does not name {missing}"
