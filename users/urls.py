from django.contrib.auth import views as auth_views
from django.urls import path

from .forms import LoginForm
from .views import (
    DeleteAccountView,
    PasswordChangeView,
    PasswordResetConfirmView,
    PasswordResetView,
    SettingsView,
    SignupView,
    VerifyEmailView,
)

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", SignupView.as_view(), name="signup"),
    path("settings/", SettingsView.as_view(), name="settings"),
    path("delete/", DeleteAccountView.as_view(), name="delete_account"),
    path("verify/<str:token>/", VerifyEmailView.as_view(), name="verify_email"),
    # Django's password views, with the templates in templates/registration/ under Django's
    # names. A change keeps this session and ends the others (the session's auth hash no longer
    # matches), its current password throttled (users/reauth.py); a reset answers the same
    # whether or not the address has an account, and once done lifts the handle's login pause.
    path(
        "password_change/",
        PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("password_reset/", PasswordResetView.as_view(), name="password_reset"),
    path(
        "password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
