"""Interface languages: A1111-format language files, merged per language, English as the fallback.

``catalog`` finds and merges the files; ``service`` installs the catalog into the Backend;
``modules/ui/static/localization.js`` translates the page in the browser. The translator's tooling (the list
of strings the interface shows, for the template and the coverage test) is in ``tools/localization/``.
See README.md.
"""
