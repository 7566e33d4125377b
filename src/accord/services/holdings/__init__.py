"""A body's current records for a registered dataset, and the only way to read them.

Loading (``load_holding``) is the body's own act; reading (``read``,
``cached``, ``columns``, ``count``) needs a ``Grant`` from
``services.access.ask`` and reads only the columns it covers. A raw path to a
holding never leaves this package.
"""

from accord.services.holdings.files import ROW_KEY
from accord.services.holdings.loading import HoldingInfo, holding_info, load_holding
from accord.services.holdings.reading import HUB_COLUMNS, Equals, IsTrue, NotGranted, cached, columns, count, read
from accord.services.subjects import SUBJECT

__all__ = [
    "HUB_COLUMNS", "ROW_KEY", "SUBJECT", "Equals", "HoldingInfo", "IsTrue", "NotGranted", "cached", "columns", "count",
    "holding_info", "load_holding", "read",
]
