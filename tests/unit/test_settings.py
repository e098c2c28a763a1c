"""Settings as production sees them: run in a fresh interpreter with a controlled environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, **env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_debug_off_without_secret_key_refuses_to_start():
    result = run_manage("check", DEBUG="false", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "production-like-secret-key-with-enough-entropy-0123456789",
    "ALLOWED_HOSTS": "messages.example.com",
    "REDIS_URL": "redis://cache.example.com:6379/0",
    "BEHIND_TLS_PROXY": "true",
    "SINGLE_PROCESS": "",
}


def check_deploy(**env):
    return run_manage("check", "--deploy", **{**PRODUCTION, **env})


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "DEBUG", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_fails_without_redis_url():
    result = check_deploy(REDIS_URL="")
    assert result.returncode == 1
    assert "(cruddur.E001) REDIS_URL is not set: the cache, the live events" in result.stderr
    assert "SINGLE_PROCESS=true" in result.stderr


def test_a_single_process_deployment_opts_out_of_redis():
    result = check_deploy(REDIS_URL="", SINGLE_PROCESS="true")
    assert result.returncode == 0, result.stderr
    assert "cruddur.E001" not in result.stdout + result.stderr


def test_check_deploy_warns_without_behind_tls_proxy():
    result = check_deploy(BEHIND_TLS_PROXY="")
    assert result.returncode == 0, result.stderr
    assert "(cruddur.W001) BEHIND_TLS_PROXY is off" in result.stderr
    assert "every person would share one address" in result.stderr


def test_local_defaults_need_no_configuration():
    result = run_manage("check")
    assert result.returncode == 0, result.stderr


def test_production_uses_the_storage_that_renders_without_a_manifest():
    # tests/unit/test_static_without_manifest.py shows what this storage does.
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.STORAGES['staticfiles']['BACKEND'])",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "cruddur.staticfiles.ManifestStaticFilesStorage"


def test_database_password_given_apart_wins_over_the_urls():
    # As RDS's managed secret may be: characters a URL would need escaped, a leading "$".
    secret = "$ecret:/@?#%+ with spaces"
    show = "from django.conf import settings; print(settings.DATABASES['default']['PASSWORD'])"
    url = "postgres://cruddur:in-the-url@db.example.com:5432/cruddur"
    given_apart = run_manage("shell", "-c", show, DATABASE_URL=url, DATABASE_PASSWORD=secret)
    assert given_apart.returncode == 0, given_apart.stderr
    assert given_apart.stdout.splitlines()[-1] == secret
    from_url = run_manage("shell", "-c", show, DATABASE_URL=url, DATABASE_PASSWORD="")
    assert from_url.stdout.splitlines()[-1] == "in-the-url"
