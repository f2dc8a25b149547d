"""Pages of the annotation interface: thin views over the queue services."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from labelhub.projects.selectors import projects_for_user


@login_required
def home(request):
    return render(request, "annotators/home.html", {"projects": projects_for_user(request.user)})
