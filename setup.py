"""Builds the Java parts (agent + simulated Gateway) into the package during `pip install .`."""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, str(Path(__file__).parent / "src"))


class BuildWithJars(build_py):
    def run(self) -> None:
        # An editable install builds the jars on first use instead (ibpilot.jars.jar_path).
        if not getattr(self, "editable_mode", False):
            from ibpilot import _build

            _build.build_all(Path(__file__).parent)
        super().run()


setup(cmdclass={"build_py": BuildWithJars})
