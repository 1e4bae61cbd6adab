import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _deploy_check(**overrides: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "TRUSTED_PROXIES"}
    }
    env.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        API_KEY_HMAC_SECRET=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="asterai.example.com",
        DATABASE_URL="postgres://asterai:pw@db:5432/asterai",
        REDIS_URL="redis://redis:6379/0",
        TRUSTED_PROXIES="172.30.42.10/32",
    )
    env.update(overrides)
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
            "--settings=asterweb.settings.prod",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check():
    result = _deploy_check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_deploy_check_warns_when_production_trusts_no_proxy():
    result = _deploy_check(TRUSTED_PROXIES="")
    assert result.returncode != 0
    assert "accounts.W001" in result.stdout + result.stderr


def test_a_trusted_proxy_that_is_not_an_address_is_a_check_error():
    result = _deploy_check(TRUSTED_PROXIES="caddy")
    assert result.returncode != 0
    assert "accounts.E004" in result.stdout + result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env.update(ALLOWED_HOSTS="asterai.example.com", DATABASE_URL="postgres://a:b@db/asterai")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--settings=asterweb.settings.prod"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("from-a-file-" + "x" * 50)
    env = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        SECRET_KEY_FILE=str(secret_file),
        API_KEY_HMAC_SECRET="x" * 50,
        ALLOWED_HOSTS="asterai.example.com",
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DATABASE_URL="postgres://a:b@db/asterai",
    )
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--settings=asterweb.settings.prod",
            "-c",
            "from django.conf import settings; print(settings.SECRET_KEY)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip().splitlines()[-1] == "from-a-file-" + "x" * 50, result.stderr


def test_production_settings_keep_the_non_commercial_public_corpora_off():
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_SETTINGS_MODULE", "PATTERNS_"))
    }
    env.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        API_KEY_HMAC_SECRET=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="asterai.example.com",
        DATABASE_URL="postgres://asterai:pw@db:5432/asterai",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "diffsettings", "--all", "--settings=asterweb.settings.prod"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "PATTERNS_PUBLIC_CORPORA = False" in result.stdout
