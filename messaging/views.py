from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def inbox(request):
    # Placeholder until the messaging pages land (issue 4).
    return render(request, "messaging/inbox.html")
