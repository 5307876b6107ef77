"""Community Pine Script strategies (pure: imports no Django).

A script a creator pastes goes through three steps, each its own module:

- ``source``: the text is checked (empty, too big, binary, the ``//@version=5`` or ``6`` line) and parsed by
  pynescript (TradingView's grammar as ANTLR rules; never ``eval``/``exec`` of anything from the script);
- ``check``: the tree is walked once for the validation report a creator can act on — every construct Trendy
  does not run, with its line and column and a plain sentence, the declared inputs, the ``strategy()``
  settings, and whether the script can run;
- the compiler (next) turns a script that can run into the same ``signals()`` contract the six built-ins use.

Messages are English templates marked with ``strategies.interface._`` and their %-parameters;
``strategies.messages`` translates them at the Django edge, as for the built-ins' errors.
"""

from strategies.pine.check import InputSpec, Problem, Report, validate

__all__ = ["InputSpec", "Problem", "Report", "validate"]
