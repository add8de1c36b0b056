"""The report: Tables 2-4 and the claim checks computed from run directories (``tables``), the claims in the
papers' words (``claims``) and how they are judged (``judge``), the book's table views (``views``), the words each
chapter ends on (``narrative``) and the recorded runs the book shows (``records``). Nothing here is typed in.
Import the module you need (``from mmpaper.report import tables``); this package imports none of them."""
