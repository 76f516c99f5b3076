"""ponder inside vLLM: the logits-processor plugin (``plugin``) and the engine-free steering it runs (``steer``).

Importing this package does not import vLLM; ``ponder.vllm.plugin`` does.
"""
