"""The pages of the dashboard, one module per page (and its event stream)."""
