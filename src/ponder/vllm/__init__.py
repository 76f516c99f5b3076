"""ponder inside vLLM: the logits-processor plugin (``plugin``), the batch it keeps (``batch``), and the
engine-free steering of one request (``steer``).

Importing this package does not import vLLM; ``ponder.vllm.plugin`` does.
"""
