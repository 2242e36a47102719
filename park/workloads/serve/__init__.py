"""LLM serving for charlm models: a KV-cached engine, continuous batching and the Ray Serve application."""
