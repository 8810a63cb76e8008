"""Service Fabric's own safety rules, read before every start (``rules.py``: names and waivers;
``inputs.py``: the cluster's state, read at most once per tick; ``judge.py``: a target against it)."""
