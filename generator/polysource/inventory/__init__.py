"""The inventory: the YAML file a team edits, and its validated model."""

from polysource.inventory.load import load_inventory
from polysource.inventory.model import Inventory

__all__ = ["Inventory", "load_inventory"]
