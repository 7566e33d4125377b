"""The legal framework as data: gateways, objectives, body types, data categories."""

from accord.framework.model import Framework, Gateway, Objective
from accord.framework.loader import DEFAULT_FRAMEWORK, load_framework

__all__ = ["DEFAULT_FRAMEWORK", "Framework", "Gateway", "Objective", "load_framework"]
