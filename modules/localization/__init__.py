"""Interface languages: A1111-format language files, merged per language, English as the fallback.

``catalog`` finds and merges the files; ``service`` installs the catalog into the Backend;
``modules/ui/static/localization.js`` translates the page in the browser; ``collect`` lists the strings the
interface shows, for the translator's template and the coverage test. See README.md.
"""
