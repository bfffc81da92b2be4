"""A.I.R.: adaptive, iterative and reasoning-based frame selection for video question answering.

Importing the package is cheap: torch, transformers and the decoders are imported only by the modules
that need them.
"""

__version__ = "0.1.0"
