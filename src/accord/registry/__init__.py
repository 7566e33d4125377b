"""The register: bodies, their datasets and credentials, agreements and their lifecycle."""
