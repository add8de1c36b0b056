"""The book: what a chapter calls at run time (``runtime``), building it with papermill and Jupyter Book
(``build``), the repository, release and launch buttons it names (``launch``) and checking the built pages
(``pages``)."""
from .build import (BookBuildError, ChapterError, build, build_environment, chapter_key, chapters,  # noqa: F401
                    execute_chapters, install_mathjax, read_stamp, render, sync_notebooks, write_status_page)
from .launch import Release, pin_release, read_release  # noqa: F401
from .pages import book_pages, browser_check, page_problems  # noqa: F401
from .runtime import in_colab, open_experiment, open_real_photos, training_plan  # noqa: F401
