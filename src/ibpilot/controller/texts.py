"""The words of IB's screens that more than one controller module needs (gateway-ui.md §2), stated once."""

from __future__ import annotations

LOGIN_BUTTONS = ("Login", "Log In", "Paper Log In")
SECOND_FACTOR_TITLES = ("Second Factor Authentication", "Security Code Card Authentication")
# Buttons that accept a disclaimer; `BYPASS_WARNING` adds to it. A bare "OK" is never one of them.
DISCLAIMER_BUTTONS = ("I understand and accept", "I Accept", "Acknowledge", "Accept and Continue", "I agree")
