"""Import hygiene, checked in a fresh interpreter: importing the core loads neither torch nor a framework."""

import subprocess
import sys


def test_core_imports_no_torch_and_no_framework():
    code = (
        "import sys, embeddinggemma; bad = {'torch', 'langchain_core', 'llama_index'} & set(sys.modules);"
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
