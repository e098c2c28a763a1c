from django.contrib import admin
from django.urls import include, path

from . import metrics_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.ready, name="health"),  # = ready, for the probes made before
    path("health/live", views.live, name="health-live"),
    path("health/ready", views.ready, name="health-ready"),
    path("metrics", metrics_views.metrics, name="metrics"),
    path("accounts/", include("users.urls")),
    path("messages/", include("messaging.urls")),
    path("notifications/", include("notifications.urls")),
    path("admin/", admin.site.urls),
]

# The 500 page with the request's id to quote (cruddur/error_pages.py).
handler500 = "cruddur.error_pages.server_error"
