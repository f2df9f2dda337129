"""PDF from the same HTML as the HTML report (WeasyPrint), fetching nothing.

Only data: URIs may be loaded (the keyframes are inlined): any other URL a hostile metadata
string might smuggle in is refused by the fetcher, so rendering a PDF never touches the network.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import ReportError, ToolMissing

# Page layout for print. Fixed table layout: WeasyPrint's automatic layout measures the
# min-content width of every cell, which costs seconds on long hashes and custody JSON.
PDF_CSS = """
@page { size: A4; margin: 12mm; }
body { padding: 0; background: #fff; font-size: 10px; }
table { table-layout: fixed; width: 100%; }
td, th, dd, code, pre, figcaption { overflow-wrap: anywhere; }
details > pre { max-height: none; }
table.sheet td { width: 33%; padding: 2px; border: none; }
"""


def html_to_pdf(html: str, out: Path) -> Path:
    """Render `html` to `out` (written to a temporary name first, then renamed).

    Raises:
        ToolMissing: WeasyPrint or its system libraries (Pango) are not installed.
        ReportError: the PDF could not be rendered or written.
    """
    try:
        from weasyprint import CSS, HTML
        from weasyprint.urls import URLFetcher
    except (ImportError, OSError) as exc:
        raise ToolMissing(f"PDF needs WeasyPrint and Pango (make setup): {exc}") from None
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        fetcher = URLFetcher(allowed_protocols=("data",))
        HTML(string=html, url_fetcher=fetcher).write_pdf(tmp, stylesheets=[CSS(string=PDF_CSS)])
        tmp.replace(out)
    except OSError as exc:
        raise ReportError(f"cannot write the PDF {out}: {exc}") from None
    except Exception as exc:  # WeasyPrint raises many kinds; one line for the user
        raise ReportError(f"could not render the PDF: {exc.__class__.__name__}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out
