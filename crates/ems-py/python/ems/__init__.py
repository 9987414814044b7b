"""EMS, the post-quantum Ephemeral Message System for QRL, embedded in Python.

Frames, policy and validation against a chain view the host supplies, mining (the GIL is
released), identities and end-to-end channels, and a relay node running on threads of its own.
Every error is an :class:`EmsError` whose ``code`` is the HTTP API's error code.
See ``docs/embedding.md``.
"""

from ._ems import *  # noqa: F401,F403
from ._ems import __version__  # noqa: F401
