"""Development: what ``make run`` uses. DEBUG is on only here."""
from .base import *  # noqa: F403
from .base import DATA_DIR

DEBUG = True
_key_file = DATA_DIR / "dev-secret-key"
if not _key_file.exists():
    import secrets

    _key_file.write_text(secrets.token_urlsafe(50))
SECRET_KEY = _key_file.read_text().strip()  # generated per machine, git-ignored under var/

# Serve what collectstatic wrote (hashed, compressed, cached for a year), as production does;
# make run collects first. Tests keep finders and autorefresh (netlearn.settings.test).
WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False
