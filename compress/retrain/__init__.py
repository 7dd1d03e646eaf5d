"""Retraining of compressed models: knowledge distillation, AVC fine-tuning, tf.distribute
strategies and SLURM job scripts."""
