"""Chaos Toolkit controls of sf_progress (declare one by its module: ``sf_progress.chaostoolkit.controls.timings``)."""
