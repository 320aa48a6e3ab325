"""Answer backends: the offline extractive default and generative (OpenAI-compatible, Ollama)."""
