"""Purpose services: each runs through the registry, the decision point and the audit record."""
