"""The git domain's SQL, one module per area: `repos`, `keys`, `issues`."""
