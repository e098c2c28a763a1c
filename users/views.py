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

from .accounts import delete_account
from .forms import MessagingSettingsForm, ProfileForm, SignupForm, time_zone_names
from .lockout import client_ip
from .models import Block


class SignupView(FormView):
    template_name = "registration/signup.html"
    form_class = SignupForm
    success_url = reverse_lazy("messaging:inbox")

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect(self.success_url)
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        try:
            user = form.save()
        except IntegrityError:
            # Someone took the handle or the email address between the check and the save.
            form.add_error(None, "That handle or email address was just taken. Please try again.")
            return self.form_invalid(form)
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
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
        if section not in self.sections:
            return redirect("settings")
        form = self.sections[section](request.POST, instance=request.user)
        if form.is_valid():
            try:
                form.save()
            except IntegrityError:  # the handle or the email address, taken a moment ago
                form.add_error(None, "That handle or email address was just taken.")
            else:
                messages.success(request, self.saved[section])
                return redirect("settings")
        request.user.refresh_from_db()  # the header shows the saved name, not the refused one
        return self.render(request, **{section: form})

    def render(self, request, **bound):
        user = request.user
        context = {
            f"{name}_form": bound.get(name) or form_class(instance=user)
            for name, form_class in self.sections.items()
        }
        blocks = Block.objects.filter(blocker=user).select_related("blocked")
        context.update(blocked=[block.blocked for block in blocks], time_zones=time_zone_names())
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
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.", code="password_incorrect")
        return password


class DeleteAccountView(LoginRequiredMixin, FormView):
    """Delete my account: asks for the password, then users.accounts.delete_account."""

    template_name = "users/delete_account.html"
    form_class = DeleteAccountForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form):
        delete_account(self.request.user)
        logout(self.request)
        messages.success(
            self.request, "Your account is deleted. The people you wrote to see “Deleted user”."
        )
        return redirect("login")


RESETS_PER_ADDRESS = limits.Limit(
    "reset-address", "PASSWORD_RESET_LIMIT_PER_HOUR", 60 * 60, "password reset emails", "an hour"
)
RESETS_PER_CLIENT = limits.Limit(
    "reset-client",
    "PASSWORD_RESET_CLIENT_LIMIT_PER_HOUR",
    60 * 60,
    "password reset emails",
    "an hour",
)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset by email, with a limit on the emails per address typed and per client,
    so the form cannot be used to flood someone's inbox. The limits apply whether or not the
    address has an account, so the answer still tells nothing about that."""

    def form_valid(self, form):
        address = form.cleaned_data["email"].strip().lower()
        try:
            limits.take(hashlib.sha256(address.encode()).hexdigest(), RESETS_PER_ADDRESS)
            limits.take(client_ip(self.request), RESETS_PER_CLIENT)
        except limits.LimitReached as reached:
            form.add_error(None, str(reached))
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(reached.retry_after)
            return response
        return super().form_valid(form)
