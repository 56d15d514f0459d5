"""Numbers as the pages and the command line show them to people; the core keeps the raw values."""


def human_bytes(n: float) -> str:
    """A byte count as the pages show it ("86.7 MB"); display only, the core keeps byte counts as numbers."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
