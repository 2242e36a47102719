"""Park: one control plane for AI infrastructure on PyTorch, AI models, Ray and Kubernetes."""

__version__ = "0.1.0"
