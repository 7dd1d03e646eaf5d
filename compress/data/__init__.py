"""Training data: AudioSet-format segment lists with ontology label filters, local media
decoding (soundfile / librosa / ffmpeg) and tf.data pipelines."""
