"""Pure parsers of real command output, one module per tool family; golden-file tested.

None of them sees SSH or the probe's markers: each takes the text a tool printed (or the
summary the probe's awk printed) and returns typed values. Unparseable lines are skipped,
never fatal: a parser's callers decide whether an empty result is an error.
"""
