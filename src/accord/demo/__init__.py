"""The demo: example bodies, datasets and one agreement per gateway (all fictional)."""
