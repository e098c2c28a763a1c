import hashlib

from django import forms
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views import View
from django.views.generic import FormView

from cruddur import limits

from . import reauth, selectors, services, verification
from .forms import (
    ChangePasswordForm,
    MessagingSettingsForm,
    ProfileForm,
    ResetByEmailForm,
    SignupForm,
    time_zone_names,
)
from .lockout import client_ip, forget_failures

SIGNUPS_PER_CLIENT = limits.Limit(
    "signup-client", "SIGNUP_LIMIT_PER_HOUR", 60 * 60, "sign-ups", "an hour"
)


def link_sent(user) -> str:
    return f"We sent a link to {user.email}: open it to verify your address."


class SignupView(FormView):
    template_name = "registration/signup.html"
    form_class = SignupForm
    success_url = reverse_lazy("messaging:inbox")

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect(self.success_url)
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        # Only sign-ups that would create an account count, so typos use up nothing.
        try:
            limits.take(client_ip(self.request), SIGNUPS_PER_CLIENT)
        except limits.LimitReached as reached:
            form.add_error(
                None,
                "Too many accounts were created from your network in the last hour. "
                f"You can sign up again in {reached.retry_in}.",
            )
            return limits.too_many(self.form_invalid(form), reached.retry_after)
        try:
            user = form.save()
        except IntegrityError:
            # Someone took the handle or the email address between the check and the save.
            form.add_error(None, "That handle or email address was just taken. Please try again.")
            return self.form_invalid(form)
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        verification.send_link_on_commit(user, request=self.request)
        messages.info(self.request, link_sent(user))
        return super().form_valid(form)


class SettingsView(LoginRequiredMixin, View):
    """Your settings: your profile and time zone, who may start a conversation with you, the
    people you blocked. Each section is its own form (`section`), saved on its own."""

    template_name = "users/settings.html"
    sections = {"profile": ProfileForm, "messaging": MessagingSettingsForm}
    saved = {"profile": "Your profile is saved.", "messaging": "Your message settings are saved."}

    def get(self, request):
        return self.render(request)

    def post(self, request):
        section = request.POST.get("section")
        if section == "verification":
            return self.send_link_again(request)
        if section not in self.sections:
            return redirect("settings")
        form = self.sections[section](request.POST, instance=request.user)
        if form.is_valid():
            try:
                email_changed = self.save(request.user, section, form)
            except IntegrityError:  # the handle or the email address, taken a moment ago
                form.add_error(None, "That handle or email address was just taken.")
            else:
                messages.success(request, self.saved[section])
                if email_changed:
                    verification.send_link_on_commit(request.user, request=request)
                    messages.info(request, link_sent(request.user))
                return redirect("settings")
        request.user.refresh_from_db()  # the header shows the saved name, not the refused one
        return reauth.pause_status(self.render(request, **{section: form}), form)

    @staticmethod
    def save(user, section: str, form) -> bool:
        """Write a valid section; True if the email address changed (its link is to send)."""
        if section == "profile":
            return services.update_profile(user=user, **form.profile_fields())
        services.set_messaging_settings(user=user, **form.cleaned_data)
        return False

    def send_link_again(self, request):
        """Another verification link for the address, a few an hour (the emails go to an
        address that may be a stranger's)."""
        if request.user.email_verified:
            messages.info(request, "Your email address is already verified.")
            return redirect("settings")
        try:
            limits.take(str(request.user.pk), verification.LINKS_SENT_AGAIN)
        except limits.LimitReached as reached:
            messages.error(request, str(reached))
            return limits.too_many(self.render(request), reached.retry_after)
        verification.send_link(request.user, request=request)
        messages.success(request, link_sent(request.user))
        return redirect("settings")

    def render(self, request, **bound):
        user = request.user
        context = {
            f"{name}_form": bound.get(name) or form_class(instance=user)
            for name, form_class in self.sections.items()
        }
        context.update(blocked=selectors.blocked_by(user=user), time_zones=time_zone_names())
        return render(request, self.template_name, context)


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not reauth.is_current_password(self.user, password):
            raise forms.ValidationError("That is not your password.", code="password_incorrect")
        return password


class DeleteAccountView(LoginRequiredMixin, reauth.PauseStatusMixin, FormView):
    """Delete my account: asks for the password, then users.services.delete_account."""

    template_name = "users/delete_account.html"
    form_class = DeleteAccountForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form):
        services.delete_account(self.request.user)
        logout(self.request)
        messages.success(
            self.request, "Your account is deleted. The people you wrote to see “Deleted user”."
        )
        return redirect("login")


# Password reset emails. The owner always gets through: from their own client, the count for
# their address is theirs alone (a stranger elsewhere cannot use it up); when strangers have
# flooded the address, its ceiling sends no more but the page points to the emails already in
# the owner's inbox, whose links work (Django's tokens stay valid for PASSWORD_RESET_TIMEOUT,
# until the password changes or the account logs in).
RESETS_PER_ADDRESS_AND_CLIENT = limits.Limit(
    "reset-pair",
    "PASSWORD_RESET_LIMIT_PER_HOUR",
    60 * 60,
    "password reset emails to one address",
    "an hour",
)
RESETS_PER_CLIENT = limits.Limit(
    "reset-client",
    "PASSWORD_RESET_CLIENT_LIMIT_PER_HOUR",
    60 * 60,
    "password reset emails",
    "an hour",
)
RESETS_PER_ADDRESS = limits.Limit(
    "reset-address",
    "PASSWORD_RESET_ADDRESS_LIMIT_PER_HOUR",
    60 * 60,
    "password reset emails",
    "an hour",
)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset by email (ResetByEmailForm picks who gets it), limited so the form
    cannot flood someone's inbox, yet never so that a stranger can keep the owner out
    (the limits above). Every answer is the same whether or not the address has an account."""

    form_class = ResetByEmailForm

    def form_valid(self, form):
        address = hashlib.sha256(form.cleaned_data["email"].strip().lower().encode()).hexdigest()
        client = client_ip(self.request)
        try:
            limits.take(f"{client}:{address}", RESETS_PER_ADDRESS_AND_CLIENT)
            limits.take(client, RESETS_PER_CLIENT)
        except limits.LimitReached as reached:
            form.add_error(None, str(reached))
            return limits.too_many(self.form_invalid(form), reached.retry_after)
        try:
            limits.take(address, RESETS_PER_ADDRESS)
        except limits.LimitReached as reached:
            # Not an error: the emails already sent to the address work.
            return render(
                self.request,
                "registration/password_reset_already_sent.html",
                {"retry_in": reached.retry_in},
            )
        return super().form_valid(form)


class VerifyEmailView(View):
    """The link in the verification email (users/verification.py), signed in or not: the
    token names the account. Opening it shows a button, and only the POST verifies, so a mail
    scanner that fetches every link in an email verifies nothing."""

    template_name = "users/verify_email.html"

    def get(self, request, token):
        person = verification.user_for_token(token)
        if person is None:
            return self.bad_link(request)
        return render(request, self.template_name, {"person": person, "token": token})

    def post(self, request, token):
        person = verification.user_for_token(token)
        if person is None:
            return self.bad_link(request)
        if not person.email_verified and not verification.verify(person):
            return render(
                request, self.template_name, {"person": person, "taken": True}, status=409
            )
        messages.success(request, f"Your email address {person.email} is verified.")
        return redirect("settings" if request.user.pk == person.pk else "login")

    def bad_link(self, request):
        return render(request, self.template_name, {"bad_link": True}, status=400)


class PasswordChangeView(reauth.PauseStatusMixin, auth_views.PasswordChangeView):
    """Django's, with the current password's tries throttled (users/reauth.py)."""

    form_class = ChangePasswordForm


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's, and a completed reset lifts the login pause on the handle, so the owner can
    log in at once, even on a device that strangers' guessing paused (users/lockout.py)."""

    def form_valid(self, form):
        response = super().form_valid(form)
        forget_failures(form.user.handle)
        return response
