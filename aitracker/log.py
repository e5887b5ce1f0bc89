"""Logging for a site on the open internet: a client's mistake is one line, a server's fault a traceback.

Django logs every 400 (django.security.*: a bad Host header, a tampered session, too many fields) and every 403
(django.request: permission denied, a CSRF failure) with the exception's full traceback. Any visitor can cause
them at will, so each one would cost a screenful of log, bury the real errors and make the log easy to flood.
`OneLineClientErrors` (a filter on the site's log handler, settings.LOGGING) keeps the message and the
exception's name and message on one line; anything that is the server's fault (5xx) keeps its traceback.
"""

import logging


class OneLineClientErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or not self.is_client_error(record):
            return True
        exc = record.exc_info[1]
        message = record.getMessage()
        if exc is not None and str(exc) != message:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            message = f"{message} ({detail})"
        # Whatever the visitor put in the message (a Host header, a path) stays on this one line.
        record.msg = message.replace("\r", "\\r").replace("\n", "\\n")
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True

    @staticmethod
    def is_client_error(record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int):
            return 400 <= status < 500
        # SuspiciousOperation is always answered with a 400.
        return record.name.startswith("django.security.")
