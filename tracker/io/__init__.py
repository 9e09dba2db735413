"""File formats: the notice as a workbook and as a PDF."""
