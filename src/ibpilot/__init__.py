"""ibpilot: run IB Gateway / TWS unattended."""

__version__ = "0.1.0"
