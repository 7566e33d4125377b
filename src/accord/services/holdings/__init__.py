"""A body's current records for a registered dataset, and the only way to read them.

Loading (``load_holding``) is the body's own act; reading (``read``,
``cached``, ``columns``, ``count``) needs a ``Grant`` from
``services.access.ask`` and reads only the columns it covers. A raw path to a
holding never leaves this package.
"""

from accord.lazy import exports

__all__, __getattr__ = exports(__name__, {
    "ROW_KEY": "files", "HoldingInfo": "loading", "holding_info": "loading", "load_holding": "loading",
    "HUB_COLUMNS": "reading", "Equals": "reading", "IsTrue": "reading", "NotGranted": "reading", "cached": "reading", "is_cached": "reading",
    "columns": "reading", "count": "reading", "read": "reading", "SUBJECT": "reading",
})
