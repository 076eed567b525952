import importlib
import sys

import pytest


def test_missing_hypothesis_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("tidewire.testing")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    with pytest.raises(ImportError, match=r'pip install "tidewire\[testing\]"'):
        importlib.import_module("tidewire.testing")
