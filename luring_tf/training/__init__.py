"""Training: the luring and baseline losses, the trainers, the paper's models, protecting a user's model."""
