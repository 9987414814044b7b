"""Runs the stock qrl 4.0.12 node with its clock read locally instead of over NTP.

The node asks an NTP server for the time at start and refuses to run without an answer; the test
node has no network, so the NTP lookup returns this machine's clock (offset 0). All arguments go
to the node's own `main()`.
"""
import sys
import time

from qrl.core.misc import ntp


class LocalClock:
    """The parts of an NTP response the node reads: the transmit time and the offset."""

    offset = 0.0

    @property
    def tx_time(self):
        return time.time()


ntp.get_ntp_response = LocalClock

from qrl.main import main  # noqa: E402  (imported after the patch so the node sees it)

sys.exit(main())
