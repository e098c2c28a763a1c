from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import IntegrityError
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.views.generic import FormView, UpdateView

from .forms import SafetySettingsForm, SignupForm
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


class SettingsView(LoginRequiredMixin, UpdateView):
    """Your settings: who may start a conversation with you, and the people you blocked."""

    template_name = "users/settings.html"
    form_class = SafetySettingsForm
    success_url = reverse_lazy("settings")

    def get_object(self, queryset=None):
        return self.request.user

    def get_context_data(self, **kwargs):
        blocks = Block.objects.filter(blocker=self.request.user).select_related("blocked")
        return super().get_context_data(blocked=[block.blocked for block in blocks], **kwargs)

    def form_valid(self, form):
        messages.success(self.request, "Your settings are saved.")
        return super().form_valid(form)
