"""Label-free performance estimation (draft)."""
