"""CSV files that are safe to open in a spreadsheet: no cell is ever read as a formula.

A text cell starting with "=", "+", "-", "@", a tab, CR or LF is run by Excel, LibreOffice or Google
Sheets as a formula (OWASP "CSV injection"): a failed sign-in's username or User-Agent, a village
name from an imported extract, could otherwise run `=HYPERLINK(...)` or worse on an officer's machine.
Such text gets a leading single quote. Text that already starts with a quote gets one too, so the
change can be undone exactly (`restore`): the audit export's hashes stay checkable from the file.
Numbers (int, float, Decimal) are written as numbers, negative ones included.
"""

import csv
from decimal import Decimal

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
QUOTE = "'"


def neutralise(value):
    """Return the value to write in a CSV cell: numbers unchanged, text never a formula."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(TRIGGERS) or text.startswith(QUOTE):
        return QUOTE + text
    return text


def restore(text):
    """Undo `neutralise` on a cell read back from the file (the stored text)."""
    return text[1:] if isinstance(text, str) and text.startswith(QUOTE) else text


class SafeWriter:
    """A csv.writer whose every cell goes through `neutralise`.

    Lines end in CRLF (RFC 4180): the csv module quotes a field holding any character of the line
    terminator, so a CR inside a value (a forged username) is quoted too and cannot split a row.
    """

    def __init__(self, out, **options):
        options.setdefault("lineterminator", "\r\n")
        self._writer = csv.writer(out, **options)

    def writerow(self, row):
        return self._writer.writerow([neutralise(v) for v in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)
