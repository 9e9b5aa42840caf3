"""The stack model shared by render, deploy and the field tools."""

from polysource.stack.build import build_stack
from polysource.stack.model import Stack

__all__ = ["Stack", "build_stack"]
