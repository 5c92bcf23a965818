"""yagi handlers: the chain contract (:mod:`yagi.handlers.base`) and built-ins."""
