"""Stylizer, pre/post-processing, tiling with feathered blending, backends (torch, onnxruntime)."""
