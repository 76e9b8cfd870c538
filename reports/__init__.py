"""District quality reports: the report model, its Excel and HTML renderings, receipts and delivery."""
