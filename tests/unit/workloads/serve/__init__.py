"""Tests of the serving engine, KV cache, batcher and prefix cache (pure PyTorch)."""
