"""The Ollama engine: wire shapes (api.py) and the engine (engine.py)."""
