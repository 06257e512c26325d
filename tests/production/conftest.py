"""The production smoke test: compose's services started on this machine (stack.py)."""
