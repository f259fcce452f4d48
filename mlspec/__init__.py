"""mlspec: a declarative test-spec language and compiler for behavioural testing of ML models.

Pipeline: parse -> check -> compile -> run -> report (see the modules of the same names).
"""

__version__ = "0.1.0"
