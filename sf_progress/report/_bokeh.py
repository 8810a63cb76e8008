"""Whether the HTML pages can be drawn here: Bokeh, of the ``report`` extra."""

from __future__ import annotations

__all__ = ["check_html"]


def check_html() -> None:
    """Check that HTML reports can be written here (Bokeh, of the ``report`` extra, is installed).

    Raises:
        ModuleNotFoundError: Bokeh is missing; the message names the command that installs it.
    """
    try:
        import bokeh  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "an HTML report needs Bokeh: pip install 'sf_progress[report]' (or write md or json)", name="bokeh"
        ) from exc
