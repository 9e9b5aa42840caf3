"""polysource: one YAML inventory in, a reviewable sensor-to-dashboard stack out."""

__version__ = "0.1.0"
