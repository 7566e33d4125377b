"""The tamper-evident audit log: RFC 6962 Merkle tree, signed checkpoints, proofs.

This package imports nothing from the domain (registry, policy, services):
callers hand it plain records.
"""
