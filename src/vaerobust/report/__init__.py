"""Reports: run directories -> tables (Markdown / LaTeX / CSV) and figures (PNG)."""
