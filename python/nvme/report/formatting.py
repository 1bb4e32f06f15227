"""How a number is printed in a report (HTML and PDF alike), so that the page
and the raw JSON can be compared by anyone: format_value(json_value) is the
text of the cell."""
import math


def format_value(value):
    """Text of a table cell: None as a dash, ints with thousands separators,
    floats to a precision that suits their size (3-4 significant digits; a
    datasheet reader wants 51,234 IOPS, not 51234.4871)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.1f}"
        if magnitude >= 1 or magnitude == 0:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)
