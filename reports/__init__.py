"""Reports: PPA reports (HTML + Markdown + CSV/Parquet) and Plotly figures, built from Results."""
