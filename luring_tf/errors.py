"""The one exception for user mistakes: the CLI prints its message on one line and exits 2."""


class UserError(Exception):
    """A problem the user can fix (bad flag, missing file, no data): message names the fix."""
