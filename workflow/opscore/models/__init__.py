"""Models: Keras applications and the networks built from scratch, training and its checkpoints,
layer transfer, and the Keras model file itself (config surgery, save/load with the packed low-bit
layers a model needs to load)."""
