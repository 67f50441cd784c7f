"""Database access: the pool, the migration runner, the embedded server and `run_tx`."""

from mnwd.db.pool import create_pool
from mnwd.db.tx import Tx, run_tx

__all__ = ["Tx", "create_pool", "run_tx"]
