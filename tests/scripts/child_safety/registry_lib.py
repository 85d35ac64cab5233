"""A user module with a registry its function fills."""
REGISTRY = []


def register(name):
    REGISTRY.append(name)
