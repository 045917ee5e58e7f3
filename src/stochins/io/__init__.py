"""Reading and writing results."""
