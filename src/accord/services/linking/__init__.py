"""Record linkage as a service: linking two bodies' files (``run``), governed under an agreement (``governed``),
and the tools that read only the user's own files (``tools``: encoding, evaluation, clustering)."""

from accord.lazy import exports

__all__, __getattr__ = exports(__name__, {
    "LinkRequest": "run", "Linked": "run", "link": "run",
    "LinkRefused": "governed", "LINK": "governed", "TRAIN": "governed", "ENCODE": "governed",
    "read_secret": "tools", "encode_file": "tools", "evaluate": "tools", "cluster_files": "tools",
})
