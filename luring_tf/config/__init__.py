"""Configuration: YAML profiles (paper, quick), their schema, the departures list."""
