"""The algorithms (EGGROLL, OpenES, PPO), their shared network and configs, and the one runner."""
