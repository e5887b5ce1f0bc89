"""Bounds on the admin's CSV import (django-import-export), and where its file waits between the preview
and the confirmation.

An import runs every row through the services twice (the preview's dry run, then the real one), in one
transaction: its size and number of rows are bounded so that one request stays short (AITRACKER_IMPORT_MAX_BYTES,
AITRACKER_IMPORT_MAX_ROWS). The file is checked before the library reads it, and kept, between the two steps,
in a folder of its own that nothing else writes to, removed whatever the outcome (aitracker.admin's
AllOrNothingImportMixin); a preview never confirmed is swept by a later import.
"""

import codecs
import contextlib
import csv
import re
import time
import uuid
from pathlib import Path

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from import_export.forms import ImportForm
from import_export.tmp_storages import BaseStorage

_NAME = re.compile(r"[0-9a-f]{32}")


def check_import_file(upload) -> None:
    """Refuse, with a clear message, a file over the size or row limit or not in UTF-8; reads it once."""
    max_bytes, max_rows = settings.AITRACKER_IMPORT_MAX_BYTES, settings.AITRACKER_IMPORT_MAX_ROWS
    if upload.size > max_bytes:
        raise forms.ValidationError(
            _("The file is %(size)s; an import takes at most %(limit)s. Split it into smaller files.")
            % {"size": filesizeformat(upload.size), "limit": filesizeformat(max_bytes)},
            code="too_large",
        )
    upload.seek(0)
    lines = codecs.iterdecode(upload, "utf-8-sig")
    rows = -1  # the header is not a row
    try:
        for rows, _row in enumerate(csv.reader(lines)):
            if rows > max_rows:
                raise forms.ValidationError(
                    _(
                        "The file has more than %(limit)d rows; an import takes at most %(limit)d. Split it into "
                        "smaller files."
                    )
                    % {"limit": max_rows},
                    code="too_many_rows",
                )
    except (UnicodeDecodeError, csv.Error):
        raise forms.ValidationError(_("The file is not a CSV file in UTF-8."), code="invalid") from None
    finally:
        upload.seek(0)


class BoundedImportForm(ImportForm):
    """The import page's form: the file is checked before django-import-export reads it."""

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        check_import_file(upload)
        return upload


def discard(name) -> None:
    """Remove an import's waiting file, if it is still there."""
    if name:
        ImportFileStorage(name=Path(str(name)).name).remove()


class ImportFileStorage(BaseStorage):
    """IMPORT_EXPORT_TMP_STORAGE_CLASS: the uploaded file between the preview and the confirmation."""

    def _path(self) -> Path:
        if not self.name or not _NAME.fullmatch(self.name):
            raise FileNotFoundError(self.name)  # only names this class made, inside its folder
        return Path(settings.AITRACKER_IMPORT_TMP_DIR) / self.name

    def save(self, data):
        folder = Path(settings.AITRACKER_IMPORT_TMP_DIR)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        sweep(folder)
        self.name = uuid.uuid4().hex
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(self._path(), mode, encoding=None if mode == "wb" else self.encoding) as file:
            file.write(data)

    def read(self):
        binary = "b" in self.read_mode
        with open(self._path(), self.read_mode, encoding=None if binary else self.encoding) as file:
            return file.read()

    def remove(self):
        with contextlib.suppress(FileNotFoundError):  # not a name this class made: nothing of ours to remove
            self._path().unlink(missing_ok=True)


def sweep(folder: Path) -> None:
    """Remove the files of previews left unconfirmed for longer than AITRACKER_IMPORT_TMP_MAX_AGE_SECONDS."""
    cutoff = time.time() - settings.AITRACKER_IMPORT_TMP_MAX_AGE_SECONDS
    for path in folder.iterdir():
        try:
            if _NAME.fullmatch(path.name) and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            pass
