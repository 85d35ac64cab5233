"""A user module whose globals the guarded script changes before it starts workers."""

MODE = "slow"
LIMITS = {"depth": 1}
