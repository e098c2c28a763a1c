from django.contrib.auth import views as auth_views
from django.urls import path

from .views import DeleteAccountView, SettingsView, SignupView

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", SignupView.as_view(), name="signup"),
    path("settings/", SettingsView.as_view(), name="settings"),
    path("delete/", DeleteAccountView.as_view(), name="delete_account"),
]
