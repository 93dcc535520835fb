"""Training the digit recognizer on real MNIST and publishing it to the model store.

Run ``python -m training --help``.
"""
