"""Files on disk: atomic JSON/NPZ records, output-folder locks, model files and fingerprints."""
