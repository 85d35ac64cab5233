"""The fast in-process tier (a package, so that its conftest is not ``conftest``)."""
