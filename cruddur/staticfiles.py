"""The static files storage with DEBUG off: WhiteNoise's compressed files with hashed names,
and pages that still render when `collectstatic` has not been run.

Django's manifest storage raises ValueError in `{% static %}` for a file missing from the
manifest (STATIC_ROOT/staticfiles.json), and every page links the stylesheet, so a deploy that
forgot `collectstatic` answered every page, the error pages too, with a bare 21-byte "Internal
Server Error". Here such a file is linked by its unhashed name instead (WhiteNoise serves it
only if STATIC_ROOT has it), and, when there is no manifest at all, the first miss is logged as
an error that says what to run.
"""

import logging

from whitenoise.storage import CompressedManifestStaticFilesStorage

logger = logging.getLogger("cruddur.staticfiles")


class ManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    # Once per process: every {% static %} of every page would repeat it otherwise.
    missing_logged = False

    def stored_name(self, name):
        try:
            return super().stored_name(name)
        except ValueError:
            # With a manifest, a name outside it is asked for by a lookup, not a page: WhiteNoise
            # at start-up tries `admin/js/jquery.js` for the admin's `jquery.init.js`.
            if self.hashed_files:
                return name
            if not ManifestStaticFilesStorage.missing_logged:
                ManifestStaticFilesStorage.missing_logged = True
                logger.error(
                    "The static file %r is not in the manifest in %s: run `python manage.py "
                    "collectstatic --no-input` at deploy time. Until then pages link static "
                    "files by their unhashed names (and are unstyled if STATIC_ROOT is empty).",
                    name,
                    self.location,
                )
            return name
