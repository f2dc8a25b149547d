"""`manage.py import_items`."""

import json

import pytest
from django.core.management import CommandError, call_command

from labelhub.projects.models import ImportBatch, Item

pytestmark = pytest.mark.django_db


def test_command_imports_a_file_by_project_name(project, tmp_path, capsys):
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps({"text": f"line {n}"}) + "\n" for n in range(12)))
    call_command("import_items", str(path), project=project.name, no_progress=True)
    assert Item.objects.filter(project=project).count() == 12
    assert ImportBatch.objects.get(project=project).source == "command"
    assert "12 items imported" in capsys.readouterr().out


def test_command_reports_line_errors_and_fails(project, tmp_path, capsys):
    path = tmp_path / "items.csv"
    path.write_text("id,text\n1,ok\n2,\n")
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_items", str(path), project=str(project.pk), no_progress=True)
    assert "line 3, field text" in capsys.readouterr().err
    assert not Item.objects.filter(project=project).exists()


def test_command_says_what_it_left_out(tmp_path, capsys):
    from pathlib import Path

    from labelhub.projects.services import create_project_from_label_config

    fixtures = Path(__file__).parent / "fixtures" / "label_studio"
    project = create_project_from_label_config("LS", (fixtures / "config.xml").read_text())
    call_command(
        "import_items", str(fixtures / "export-default.json"), project=project.name, no_progress=True
    )
    out = capsys.readouterr().out
    assert "left out: 1 cancelled annotations; 2 predictions id only" in out
