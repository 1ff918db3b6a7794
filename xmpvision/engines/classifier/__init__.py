"""What the local classifiers (engines tensorflow and onnx) share: the rules table that turns
ImageNet classes into keywords, class-name files, crops, and the micro-batcher that runs the
photos of several workers as one batch.

Importing this package imports nothing heavy; its modules need numpy and Pillow (labels,
crops, batcher) or nothing at all (rules, files).
"""
