"""The adapter the shared suite runs against, chosen by ``pytest --adapter`` (see conftest.py).

Test modules that bind an adapter's per-protocol module at import time read it
here (``from adapter_under_test import adapter``); conftest.py sets both names
before any test module is imported.
"""

from types import ModuleType

name: str = ""
adapter: ModuleType
