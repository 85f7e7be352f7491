"""Training machinery shared by every recipe: the Trainer loop, crash-safe
checkpoints, metrics, progress, plots, signal handling and seeding."""
