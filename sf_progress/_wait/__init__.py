"""Waiting: the pure state machine, the one wait driver (engine, observer, lease, tick, pacer),
recovery checks and the wait options."""
