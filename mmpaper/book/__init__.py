"""The book: what a chapter calls at run time (``runtime``), building it with papermill and Jupyter Book
(``build``) and checking the built pages (``pages``)."""
from .build import (build, chapters, execute_chapters, install_mathjax, read_stamp, sync_notebooks,  # noqa: F401
                    write_status_page)
from .pages import book_pages, browser_check, page_problems  # noqa: F401
from .runtime import in_colab, open_experiment, open_real_photos, training_plan  # noqa: F401
