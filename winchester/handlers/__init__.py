"""Pipeline handlers: the contract (:mod:`winchester.handlers.base`) and built-ins."""
