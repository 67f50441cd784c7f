"""The store domain's SQL, one module per area: `catalog`, `discovery`, `social`."""
