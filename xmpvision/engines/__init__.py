"""Engines turn a prepared photo into labels or a caption (ollama now, tensorflow later)."""
