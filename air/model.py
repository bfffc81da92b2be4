"""Public entry point of A.I.R.: configuration, the selection loop and the model that wires it up.

`AIRConfig` (air/config.py) and `select_frames` / `Selection` (air/selection.py) live in their own
files and are re-exported here, so `from air.model import ...` is the one import users need.
"""

from air.config import PRESETS, AIRConfig
from air.Process_Utils.process_messages import FrameScore
from air.selection import RoundTrace, Selection, select_frames

__all__ = ["AIRConfig", "PRESETS", "FrameScore", "RoundTrace", "Selection", "select_frames"]
