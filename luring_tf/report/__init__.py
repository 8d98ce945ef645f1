"""Reports: Markdown/CSV tables and figures rendered from stored records, and the paper's published values."""
