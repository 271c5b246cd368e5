"""A JupyterLab server on loopback, serving a temporary copy of tests/browser/, for Playwright.

It runs with the lab settings that ``./run lessons`` ships (``lab-settings/``:
widget state saved with the notebook), so a test sees what a learner sees.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent
LAB_SETTINGS = HERE.parent.parent / "lab-settings"  # what ./run lessons passes to JupyterLab


@dataclass
class Lab:
    """A running JupyterLab: its URL and the folder it serves (a temporary copy)."""

    url: str
    root: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings: Path) -> None:
    # Every cell kept in the DOM (the test reads cells that are off-screen).
    notebook = settings / "@jupyterlab" / "notebook-extension"
    notebook.mkdir(parents=True)
    (notebook / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))


def _serve(root: Path, source: Path, pattern: str, app_settings: Path = LAB_SETTINGS):
    """Start JupyterLab on a temporary copy of ``source``; yield a :class:`Lab`, then stop it."""
    served = root / "served"
    shutil.copytree(source, served, ignore=shutil.ignore_patterns(pattern, "__pycache__"))
    _write_settings(root / "settings")
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTER_DATA_DIR=str(root / "data"),  # its own notebook-trust database
        PYTHONPATH=os.pathsep.join([str(HERE.parent.parent), env.get("PYTHONPATH", "")]),
    )
    port = _free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1",
        "--port", str(port), "--IdentityProvider.token=", "--ServerApp.password=",
        "--LabApp.news_url=None", f"--ServerApp.root_dir={served}",
        f"--LabApp.app_settings_dir={app_settings}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(root / "server.log", "wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(
                    "JupyterLab did not start:\n" + (root / "server.log").read_text()[-3000:]
                )
            time.sleep(0.3)
    yield Lab(url, served)
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory):
    """A fresh JupyterLab serving tests/browser/ (the widgets tour)."""
    yield from _serve(tmp_path_factory.mktemp("lab"), HERE, "*.py")


@pytest.fixture(scope="module")
def lessons_server(tmp_path_factory):
    """A fresh JupyterLab serving the lessons in notebooks/ (their .ipynb files)."""
    yield from _serve(tmp_path_factory.mktemp("lessons"), HERE.parent.parent / "notebooks", "*.py")
