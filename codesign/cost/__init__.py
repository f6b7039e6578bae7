"""Cost models: inference energy and cycles of each layer on an accelerator."""
