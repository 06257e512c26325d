"""Error reports that never carry a mailbox secret.

Django's ``SafeExceptionReporterFilter`` hides settings by name, but shows every POST
field and every local variable of every frame unless each view and function is decorated
with ``sensitive_post_parameters`` / ``sensitive_variables``. The connect form posts the
IMAP password, and provider code holds passwords and OAuth tokens in locals and dicts, so
one forgotten decorator would put them in the report mailed to ADMINS or sent to an error
tracker. This filter hides by name everywhere instead: POST fields and frame variables
whose name (or any dict key inside them) looks like a secret.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.utils.regex_helper import _lazy_re_compile
from django.views.debug import SafeExceptionReporterFilter


class SecretsHidingFilter(SafeExceptionReporterFilter):
    hidden_settings = _lazy_re_compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|CREDENTIAL|AUTH|CODE_VERIFIER", flags=re.IGNORECASE
    )

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        params = super().get_post_parameters(request)
        if request is None or not self.is_active(request):
            return params
        cleansed = params.copy()
        for name in cleansed:
            if self.hidden_settings.search(name):
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        if request is not None and not self.is_active(request):
            return variables
        return [(name, self.cleanse_setting(name, value)) for name, value in variables]
