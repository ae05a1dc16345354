"""Turning networks into deployable engines (ONNX, AOTInductor, TensorRT) and their cache."""
