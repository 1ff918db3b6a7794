"""xmpvision: AI captions and keywords from Ollama, written to XMP sidecars."""

__version__ = "0.1.0"
