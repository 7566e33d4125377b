"""The legal framework as data: gateways, objectives, body types, data categories."""

from accord.framework.model import Factor, Framework, Gateway, Indicator, Objective
from accord.framework.loader import DEFAULT_FRAMEWORK, load_framework
from accord.framework.purpose import Purpose

__all__ = ["DEFAULT_FRAMEWORK", "Factor", "Framework", "Gateway", "Indicator", "Objective", "Purpose", "load_framework"]
