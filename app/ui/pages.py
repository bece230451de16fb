"""Plain pages shared by every blueprint: a message that explains what happened and what to do."""
from __future__ import annotations

from flask import render_template


def message(title: str, text: str, status: int, *, detail: str | None = None, link: str | None = None,
            standalone: str | None = None):
    """A plain page that explains what happened and what to do (no redirect anywhere)."""
    return render_template("message.html", title=title, text=text, detail=detail, link=link,
                           standalone=standalone), status


def relaunch_page():
    """The EHR session is over: the clinician must relaunch from the EHR."""
    return message("Please relaunch RaDaR", "Your EHR session has ended or was signed out. "
                   "Relaunch RaDaR from the patient's chart in the EHR.", 401)
