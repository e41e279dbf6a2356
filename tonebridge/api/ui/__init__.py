"""The admin dashboard at ``/ui``: login (:mod:`.pages`), the pages' JSON (:mod:`.data`),
what its plots are drawn from (:mod:`.series`, :mod:`.history`, :mod:`.losses`) and its
static HTML, CSS and JavaScript (``static/``), all served by the package itself."""
