"""Tables 2–4 and the claims (``tables``), and the words each chapter ends on (``narrative``) — all computed
from run directories, never typed in."""
from .tables import (claims, has_visual, table2, table3, table4, visual_table, write_tables)  # noqa: F401
from . import narrative, views  # noqa: F401,E402  (the book's words and its column-fitting table views)
