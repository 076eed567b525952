"""Make the shared helpers in websocket_kit.py importable by the test modules."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
