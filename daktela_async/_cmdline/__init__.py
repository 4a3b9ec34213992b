"""What the three programs share: argument errors without echoed values, SIGTERM as Ctrl-C.

``daktela-async`` (``cli/``), ``python -m daktela_async.sim`` and the webhook server
import these without importing each other.
"""
