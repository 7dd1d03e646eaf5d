"""Keras (tf_keras) models of the L3 family: L3 audio, SEA students, vision, AVC; the registry.

Import the builders from their modules (``l3``, ``sea``, ``vision``, ``avc``) or go through
``registry.build_model(name)``. Importing this package does not import TensorFlow.
"""
