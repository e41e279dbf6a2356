from __future__ import annotations

import subprocess
import sys


def test_importing_the_training_package_does_not_import_torch() -> None:
    # The stream worker imports it; torch, transformers and trl cost seconds to import.
    code = (
        "import sys, tonebridge.handlers.methods as t; "
        "heavy = {'torch', 'transformers', 'trl', 'peft', 'datasets'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
