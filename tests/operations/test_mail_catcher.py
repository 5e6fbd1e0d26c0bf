"""The development mail catcher `make serve` starts: mail sent to its SMTP port shows on its
page, escaped, with the links clickable."""

from __future__ import annotations

import smtplib
import subprocess
import sys
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from tests.processes import free_ports

ROOT = Path(__file__).resolve().parents[2]


def test_mail_sent_to_the_catcher_is_listed_on_its_page() -> None:
    smtp_port, web_port = free_ports(2)
    catcher = subprocess.Popen(  # noqa: S603 - our own script
        [
            sys.executable,
            "-m",
            "scripts.mail_catcher",
            "--smtp",
            f"127.0.0.1:{smtp_port}",
            "--web",
            f"127.0.0.1:{web_port}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert catcher.stdout is not None
        announced = catcher.stdout.readline()
        assert f"http://127.0.0.1:{web_port}/" in announced
        message = EmailMessage()
        message["Subject"] = "Confirm <your> address"
        message["From"] = "Authserver <no-reply@localhost>"
        message["To"] = "grace@example.com"
        message.set_content("Open http://127.0.0.1:5000/signup/verify?token=abc&next=%2F to go on")
        for _ in range(50):
            try:
                with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as smtp:
                    smtp.send_message(message)
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=5) as response:
            page = response.read().decode()
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    finally:
        catcher.terminate()
        catcher.wait(timeout=10)
        if catcher.stdout is not None:
            catcher.stdout.close()
    assert "Confirm &lt;your&gt; address" in page
    assert "grace@example.com" in page
    link = "http://127.0.0.1:5000/signup/verify?token=abc&amp;next=%2F"
    assert f'<a href="{link}">{link}</a>' in page
