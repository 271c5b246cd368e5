"""A JupyterLab server on loopback, serving a temporary copy of tests/browser/, for Playwright."""

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
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings: Path) -> None:
    # No "Jupyter news" pop-up over the notebook, and every cell kept in the DOM.
    apputils = settings / "@jupyterlab" / "apputils-extension"
    apputils.mkdir(parents=True)
    (apputils / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    notebook = settings / "@jupyterlab" / "notebook-extension"
    notebook.mkdir(parents=True)
    (notebook / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))


def _serve(root: Path, source: Path, pattern: str):
    """Start JupyterLab on a temporary copy of ``source``; yield its URL, then stop it."""
    served = root / "served"
    shutil.copytree(source, served, ignore=shutil.ignore_patterns(pattern, "__pycache__"))
    _write_settings(root / "settings")
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        PYTHONPATH=os.pathsep.join([str(HERE.parent.parent), env.get("PYTHONPATH", "")]),
    )
    port = _free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1",
        "--port", str(port), "--IdentityProvider.token=", "--ServerApp.password=",
        "--LabApp.news_url=None", f"--ServerApp.root_dir={served}",
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
    yield url
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
