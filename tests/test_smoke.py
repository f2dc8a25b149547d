"""The project boots: settings load, the schema is served, pages need a login."""

import pytest


@pytest.mark.django_db
def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi" in response.content


@pytest.mark.django_db
def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_web_processes_start_without_the_heavy_numeric_stack():
    """URLconf and app registry load no pandas, torch, scikit-learn or matplotlib: each is tens to
    hundreds of MB in every web process, and only QA pages, exports and workers use them."""
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'labelhub.settings'\n"
        "import django; django.setup(); import labelhub.urls\n"
        "print(sorted(m for m in ('pandas', 'torch', 'sklearn', 'matplotlib') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def _settings_in_a_fresh_process(**environ) -> tuple[int, str]:
    import os
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'labelhub.settings'\n"
        "from django.conf import settings\n"
        "db = settings.DATABASES['default']; print(db.get('OPTIONS', {}).get('pool'), db['CONN_MAX_AGE'])"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, **environ}
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, env=env, capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


def test_db_pool_gives_asgi_processes_a_psycopg_pool():
    code, out = _settings_in_a_fresh_process(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/x", DB_POOL="2,16", DB_CONN_MAX_AGE="600"
    )
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "{'min_size': 2, 'max_size': 16, 'timeout': 10} 0"
    code, out = _settings_in_a_fresh_process(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/x", DB_POOL="lots"
    )
    assert code != 0 and "DB_POOL must be MIN,MAX connections (e.g. 2,16), not 'lots'" in out
