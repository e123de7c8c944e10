from django import template

register = template.Library()


@register.filter
def duration(ms: int | None) -> str:
    """Milliseconds as m:ss (or h:mm:ss from an hour up)."""
    seconds = (ms or 0) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


@register.filter
def words(text: str) -> list[str]:
    """``"plays listeners"|words`` -> ``["plays", "listeners"]``, for column lists."""
    return text.split()
