"""ascn_workflow: the ASEAN Smart Cities Network governance calendar as persisted state machines."""

__version__ = "0.1.0"
