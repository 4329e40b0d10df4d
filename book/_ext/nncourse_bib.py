"""Author–year labels in the bibliography, matching the author–year citations.

sphinxcontrib-bibtex's ``bibtex_reference_style: author_year`` makes the *citations* read
"Cybenko (1989)", but the bibliography's own labels come from the pybtex formatting style,
whose default label style numbers the entries [1], [2], ...  This registers the pybtex style
``authoryear``: pybtex's ``plain`` formatting with labels "Cybenko 1989", "Glorot and Bengio
2010", "He et al. 2015" (a letter is appended when two entries would get the same label).
Select it with ``bibtex_default_style: authoryear`` in ``_config.yml``.
"""
from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _last_name(person):
    return " ".join(person.prelast_names + person.last_names).replace("{", "").replace("}", "")


class AuthorYearLabelStyle(BaseLabelStyle):
    def _label(self, entry):
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        if not persons:
            names = entry.fields.get("organization", entry.fields.get("title", entry.key))
        elif len(persons) == 1:
            names = _last_name(persons[0])
        elif len(persons) == 2:
            names = f"{_last_name(persons[0])} and {_last_name(persons[1])}"
        else:
            names = f"{_last_name(persons[0])} et al."
        return f"{names} {entry.fields.get('year', 'n.d.')}"

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [self._label(e) for e in entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            else:
                yield label


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabelStyle


def setup(app):
    try:
        register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    except Exception:  # already registered (a second Sphinx run in the same process)
        pass
    return {"parallel_read_safe": True, "parallel_write_safe": True}
