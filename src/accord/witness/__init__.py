"""A witness: a separate process that cosigns a log's checkpoints only if each extends the last it saw.

It speaks C2SP tlog-witness over HTTP and answers with C2SP tlog-cosignature
lines. It imports only the audit log's primitives (Merkle proofs, signed notes,
cosignatures), never the hub's registry, services or storage: it is meant to be
run by someone other than the hub's operator.
"""

from accord.witness.server import make_app
from accord.witness.state import Answer, LogState, WitnessError, WitnessStore

__all__ = ["Answer", "LogState", "WitnessError", "WitnessStore", "make_app"]
