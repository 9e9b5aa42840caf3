"""Renderers: one module per artifact, each from the stack model to file contents."""
